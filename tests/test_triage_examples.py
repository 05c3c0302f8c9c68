"""`stopit triage examples`: an organisation's reviewed examples, from the command line to triage.

The last test runs the real model (on a small bank: embedding the whole shipped bank takes minutes
on a machine without the embedding cache): a report that pages because of a keyword, its sentence
added as a negative example with `--from-case`, and the same wording no longer pages the chain
directly for that organisation. The worker's side of it is in test_triage_worker.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from stopit_mail.app import App, open_app
from stopit_mail.cases.detect.bank import Example, make_bank
from stopit_mail.cases.detect.detector import Detector
from stopit_mail.cases.detect.model import shared_embedder
from stopit_mail.cases.triage import compile_rules, load_rules
from stopit_mail.cases.triage_examples import organisation_examples
from stopit_mail.db import transaction
from stopit_mail.models import Event, TriageExample

from factories import cli, make_case, write_two_org_config

NOW = datetime.now(UTC)
SMALL_BANK = make_bank([
    Example("emergency", "threat-to-group", "he says he will shoot people at school on monday", "en"),
    Example("emergency", "self-harm", "i took all of my mothers sleeping pills an hour ago", "en"),
    Example("negative", "other", "the school bus was late again this morning", "en"),
    Example("negative", "bullying", "some kids keep laughing at my shoes", "en"),
])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_two_org_config(tmp_path)


@pytest.fixture
def two_orgs(config: Path) -> Iterator[App]:
    installation = open_app(config)
    yield installation
    installation.close()


def _case_with_trigger(app: App, organisation: str, sentence: str) -> str:
    with transaction(app.factory) as session:
        case = make_case(session, organisation, NOW, urgency="emergency")
        case.triage = {"automatic": {"resemblances": [
            {"sentence": sentence, "label": "emergency", "category": "self-harm", "tier": "emergency"}]}}
        return case.number


def test_add_from_case_list_and_remove_are_audited_and_scoped(config: Path, two_orgs: App) -> None:
    number = _case_with_trigger(two_orgs, "north", "we all died laughing at the talent show")
    out = cli(config, "--as", "Nora", "triage", "examples", "add", "--from-case", number, "--label", "negative",
              "--category", "other", "--reason", "a joke, dismissed by the reviewer")
    assert "example #1 added for north (negative, other, en): we all died laughing at the talent show" in out
    cli(config, "--as", "Ada", "triage", "examples", "add", "mi perro se murió de risa", "--org", "south",
        "--label", "negative", "--category", "other")
    # Nora works for north only: she sees north's example, not south's, and cannot add for south.
    rows = json.loads(cli(config, "--as", "Nora", "triage", "examples", "list", "--json"))
    assert [(r["id"], r["organisation"], r["source_case"], r["language"]) for r in rows] == [(1, "north", number, "en")]
    refused = cli(config, "--as", "Nora", "triage", "examples", "add", "x y z", "--org", "south", "--label",
                  "negative", "--category", "other", ok=False)
    assert "does not work for organisation 'south'" in refused
    assert "no triage example #2" in cli(config, "--as", "Nora", "triage", "examples", "remove", "2", ok=False)
    assert "example #1 removed" in cli(config, "--as", "Nora", "triage", "examples", "remove", "1", "--reason", "oops")
    with transaction(two_orgs.factory) as session:
        assert [e.id for e in session.scalars(select(TriageExample))] == [2]
        actions = [(e.action, e.actor, e.detail.get("reason")) for e in session.scalars(
            select(Event).where(Event.action.like("triage-example-%")).order_by(Event.id))]
    assert actions == [("triage-example-added", "Nora", "a joke, dismissed by the reviewer"),
                       ("triage-example-added", "Ada", ""), ("triage-example-removed", "Nora", "oops")]


def test_add_needs_exactly_one_sentence_source_and_valid_labels(config: Path, two_orgs: App) -> None:
    assert "give either SENTENCE or --from-case" in cli(
        config, "--as", "Ada", "triage", "examples", "add", "--org", "north", "--label", "negative",
        "--category", "other", ok=False)
    assert "Invalid value for '--label'" in cli(
        config, "--as", "Ada", "triage", "examples", "add", "hi", "--org", "north", "--label", "urgent",
        "--category", "other", ok=False)
    with transaction(two_orgs.factory) as session:
        number = make_case(session, "north", NOW).number
    assert "recorded no sentence that raised it" in cli(
        config, "--as", "Ada", "triage", "examples", "add", "--from-case", number, "--label", "negative",
        "--category", "other", ok=False)


def test_a_dismissed_false_alarm_added_as_negative_stops_paging_the_chain(config: Path, two_orgs: App) -> None:
    """Real model: the organisation's negative example holds the same wording, for it alone."""
    words = "Mr Okafor's robotics club is going to shoot the whole school for the yearbook video on Friday."
    rules = compile_rules(load_rules())
    embedder, status = shared_embedder()
    assert embedder is not None, status.detail
    detector = Detector(embedder, status, bank=SMALL_BANK)
    with transaction(two_orgs.factory) as session:
        assert detector.assess(words, rules, examples=organisation_examples(session, "north")).urgency == "emergency"
    number = _case_with_trigger(two_orgs, "north", words)
    cli(config, "--as", "Nora", "triage", "examples", "add", "--from-case", number, "--label", "negative",
        "--category", "other", "--reason", "a photo shoot, dismissed")
    with transaction(two_orgs.factory) as session:
        north = detector.assess(words, rules, examples=organisation_examples(session, "north"))
        south = detector.assess(words, rules, examples=organisation_examples(session, "south"))
    assert north.urgency == "possible-emergency"
    assert "a reviewer confirms first" in north.explanation()
    assert south.urgency == "emergency"  # another organisation's review does not apply
