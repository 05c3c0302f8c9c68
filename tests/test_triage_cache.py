"""A repeated report text is judged by the model once per process (issue 8: a flood of one text)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stopit_mail.app import App
from stopit_mail.cases.detect.bank import Example, make_bank
from stopit_mail.cases.detect.detector import Detector, install_detector
from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder
from stopit_mail.processing import triage_cache

BANK = make_bank([
    Example("emergency", "self-harm", "I am going to kill myself tonight", "en"),
    Example("negative", "bullying", "they keep posting mean photos of me", "en"),
    Example("negative", "bullying", "he called me names on the bus again", "en"),
])


class Counting(Detector):
    calls = 0

    def assess(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        Counting.calls += 1
        return super().assess(*args, **kwargs)


@pytest.fixture
def counting() -> Iterator[Counting]:
    stand_in = StandInEmbedder()
    detector = Counting(stand_in, ModelStatus(True, stand_in.name, "stand-in"), bank=BANK)
    Counting.calls = 0
    install_detector(detector)
    triage_cache._VERDICTS.clear()
    yield detector
    install_detector(None)
    triage_cache._VERDICTS.clear()


def test_a_repeated_text_is_scored_once_and_each_report_gets_its_own_copy(app: App, counting: Counting) -> None:
    text = "They keep posting mean photos of me. Everyone laughed at the bus stop."
    first = triage_cache.assess(app.settings, text, subject="photos")
    first.notes.append("changed by whoever applied it")
    second = triage_cache.assess(app.settings, text, subject="photos")
    assert Counting.calls == 1 and second.model == first.model != ""
    assert "changed by whoever applied it" not in second.notes
    assert (second.urgency, second.categories) == (first.urgency, first.categories)
    triage_cache.assess(app.settings, text, subject="other subject")
    assert Counting.calls == 2


def test_a_rules_only_verdict_is_not_kept(app: App) -> None:
    install_detector(Detector(None, ModelStatus(False, "none", "not installed")))
    triage_cache._VERDICTS.clear()
    try:
        decision = triage_cache.assess(app.settings, "he called me names on the bus again", subject="bus")
        assert decision.model == "" and not triage_cache._VERDICTS
    finally:
        install_detector(None)


def test_the_second_look_with_an_organisations_examples_reads_the_report_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from stopit_mail.cases.detect import detector as detector_module
    from stopit_mail.cases.triage import compile_rules, load_rules

    rules = compile_rules(load_rules())
    runs: list[str] = []
    real_triage = detector_module.triage

    def counted(text, rules, subject=""):  # type: ignore[no-untyped-def]
        runs.append(text)
        return real_triage(text, rules, subject=subject)

    monkeypatch.setattr(detector_module, "triage", counted)
    own = [Example("negative", "bullying", "he called me names on the bus again", "en", "organisation:main#1")]
    text = "He called me names on the bus again. I am going to kill myself tonight."
    stand_in = StandInEmbedder()
    detector = Detector(stand_in, ModelStatus(True, stand_in.name, "stand-in"), bank=BANK)
    first = detector.assess(text, rules, subject="bus")
    second = detector.assess(text, rules, subject="bus", examples=own)
    assert runs == [text]  # the rules, cleaning and languages ran for the first look only
    fresh = Detector(stand_in, ModelStatus(True, stand_in.name, "stand-in"), bank=BANK)
    assert second.to_dict() == fresh.assess(text, rules, subject="bus", examples=own).to_dict()
    assert first.to_dict() == fresh.assess(text, rules, subject="bus").to_dict()
    second.matches.clear()  # each look gets its own copy of the rules' verdict
    assert detector.assess(text, rules, subject="bus").matches == first.matches
    runs.clear()
    detector.assess(text, load_rules(), subject="bus")  # other rules: read again
    detector.assess(text, rules, subject="other subject")  # another report: read too
    assert runs == [text, text]
