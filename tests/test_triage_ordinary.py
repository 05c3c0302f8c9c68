"""route17's three changes to the tiers for routine reports at the reviewer (issue 9).

- ``judged_units``: a fragment under ``FRAGMENT_WORDS`` words that is also read joined with a
  neighbour is judged in that pair only ("Good afternoon." alone sat among short goodbyes).
- ``routine_by_rules``: a reviewer verdict on a report the rules read as ordinary (every match at
  *routine*) with no sentence at ``routine_rules_emergency_vote`` of emergency vote is *urgent*.
- ``head_raises``: a sentence the bank's head reads as an emergency (``raise_head``) with
  ``raise_emergency_vote`` of emergency vote is at least *possible-emergency*.
Neighbourhoods are built directly, so these need neither the model nor the stand-in; the last test
uses the real model and skips when the bank's embeddings are not built (CI).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from stopit_mail.cases.detect.bank import Example, shipped_bank
from stopit_mail.cases.detect.bank_vectors import ShippedVectorsError, read_manifest
from stopit_mail.cases.detect.detector import FRAGMENT_WORDS, judged_units, with_neighbours
from stopit_mail.cases.detect.scoring import Neighbourhood
from stopit_mail.cases.detect.sentences import Sentence, report_sentences, word_count
from stopit_mail.cases.detect.tiers import DEFAULT_THRESHOLDS, Thresholds, decide, unit_verdict
from stopit_mail.cases.triage import compile_rules, load_rules, triage

RULES = compile_rules(load_rules())
RANK = {"emergency": 0, "possible-emergency": 1, "urgent": 2, "routine": 3}
ORDINARY = "they keep posting memes of me on instagram and the whole grade laughs"
EDGE = DEFAULT_THRESHOLDS.routine_rules_emergency_vote
assert EDGE is not None


def _hood(emergency: float, concern: float, head: float | None = 1.0, same: bool = False,
          label: str = "concern") -> Neighbourhood:
    crisis = Example("emergency", "self-harm", "the kettle boiled over in the night kitchen", "en")
    worry = Example("concern", "self-harm", "the kettle keeps whistling at night", "en")
    calm = Example("negative", "other", "the kettle is on the shopping list", "en")
    nearest = {"emergency": crisis, "concern": worry, "negative": calm}[label]
    votes = {"emergency": emergency, "concern": concern, "negative": 1.0 - emergency - concern}
    return Neighbourhood(votes, nearest, 0.9, {"emergency": (crisis, 0.88), "concern": (worry, 0.9),
                                               "negative": (calm, 0.87)}, same, head)


def _decided(hood: Neighbourhood, text: str = ORDINARY, limits: Thresholds = DEFAULT_THRESHOLDS) -> tuple[str, str]:
    decision = decide(triage(text, RULES), [Sentence(text)], ["en"], [hood], frozenset({"en"}), "test", limits)
    return decision.urgency, decision.explanation()


def test_a_reviewer_verdict_on_a_report_the_rules_read_as_ordinary_is_urgent() -> None:
    rules = triage(ORDINARY, RULES)
    assert rules.urgency == "routine" and rules.matches
    hood = _hood(emergency=EDGE - 0.05, concern=0.5)
    assert unit_verdict(hood).tier == "possible-emergency"
    urgency, why = _decided(hood)
    assert urgency == "urgent", why
    assert "the rules read an ordinary report" in why
    # An emergency vote at the edge, no rule matched, or the gate off: the reviewer is paged.
    assert _decided(_hood(emergency=EDGE, concern=0.3))[0] == "possible-emergency"
    assert _decided(hood, "the kettle keeps whistling and nobody listens")[0] == "possible-emergency"
    assert triage("the kettle keeps whistling and nobody listens", RULES).matches == []
    assert _decided(hood, limits=replace(DEFAULT_THRESHOLDS, routine_rules_emergency_vote=None))[0] \
        == "possible-emergency"


def test_the_ordinary_reading_never_lowers_a_rule_above_routine_a_review_or_a_confident_verdict() -> None:
    crisis = "I am going to kill myself tonight"
    assert triage(crisis, RULES).urgency == "emergency"
    assert _decided(_hood(emergency=0.1, concern=0.5), crisis)[0] == "emergency"
    # A word-for-word reviewed concern keeps the reviewer.
    assert _decided(_hood(emergency=0.0, concern=1.0, same=True))[0] == "possible-emergency"
    confident = Neighbourhood({"emergency": 0.9, "concern": 0.0, "negative": 0.1},
                              _hood(0.9, 0.0).by_label["emergency"][0], 0.93,
                              {"emergency": (_hood(0.9, 0.0).by_label["emergency"][0], 0.93)}, False, 5.0)
    assert _decided(confident)[0] == "emergency"


def test_the_head_and_the_emergency_vote_together_raise_to_the_reviewer() -> None:
    edge, vote = DEFAULT_THRESHOLDS.raise_head, DEFAULT_THRESHOLDS.raise_emergency_vote
    assert edge is not None
    text = "the kettle whistled all night"
    hood = _hood(emergency=vote, concern=0.0, head=edge, label="emergency")
    assert RANK[unit_verdict(hood).tier] > RANK["possible-emergency"]
    urgency, why = _decided(hood, text)
    assert urgency == "possible-emergency" and "reads the sentence as an emergency" in why
    assert RANK[_decided(_hood(emergency=vote, concern=0.0, head=edge - 0.1, label="emergency"), text)[0]] > 1
    assert RANK[_decided(_hood(emergency=vote - 0.01, concern=0.0, head=edge + 5, label="emergency"), text)[0]] > 1
    assert RANK[_decided(hood, text, replace(DEFAULT_THRESHOLDS, raise_head=None))[0]] > 1


def test_a_fragment_read_within_a_pair_is_judged_there_only() -> None:
    sentences = report_sentences("Good afternoon. My daughter in year 8 keeps losing her pencil case to the same boy.")
    assert [word_count(s.text) < FRAGMENT_WORDS for s in sentences] == [True, False]
    units, _ = with_neighbours(sentences, ["en", "en"])
    assert len(units) == 3
    hoods = [_hood(0.1, 0.1)] * 3
    assert judged_units(sentences, units, hoods) == [1, 2]
    # Alone in its report, or a reviewed example word for word, a fragment is judged.
    alone = report_sentences("Good afternoon.")
    assert judged_units(alone, alone, [_hood(0.1, 0.1)]) == [0]
    assert judged_units(sentences, units, [_hood(0.0, 1.0, same=True), hoods[1], hoods[2]]) == [0, 1]
    # A pair containing a word-for-word review is judged by that review, not as a pair.
    assert 2 not in judged_units(sentences, units, [hoods[0], _hood(0.0, 1.0, same=True), hoods[2]])


def test_word_count_in_spaced_and_unspaced_scripts() -> None:
    assert word_count("My son is 11.") == 4
    assert word_count("Guten Tag!") == 2
    assert word_count("我吃了药") < FRAGMENT_WORDS <= word_count("老师您好，我是三年级一个男生的爸爸")
    assert word_count("오늘 또 그랬어요") < FRAGMENT_WORDS


def _built_for_this_bank() -> bool:
    try:
        return read_manifest().bank_digest == shipped_bank().digest
    except (ShippedVectorsError, OSError, ValueError, KeyError):  # none built (CI), or for another bank
        return False


# Written for this test: a parent's ordinary complaint opened by a greeting, and crises.
GREETED = "Good evening. Some boys in my son's class keep hiding his football boots before practice."
CRISES = ("I can't do this anymore, nobody would care if I was gone.",
          "she took all her mom's sleeping pills an hour ago and is not answering her phone",
          'a kid in 9th grade posted a photo with his dad\'s rifle and wrote "friday, cafeteria, 12:00"')


@pytest.mark.skipif(not _built_for_this_bank(), reason="no precomputed bank embeddings for this bank: "
                    "python bench/triage_bank_vectors.py")
def test_with_the_real_model_a_greeting_no_longer_pages_and_crises_still_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from stopit_mail.cases.detect import detector as module
    from stopit_mail.cases.detect.model import shared_embedder

    embedder, status = shared_embedder()
    assert embedder is not None, status.detail
    detector = module.Detector(embedder, status)
    assert detector.assess(GREETED, RULES).urgency == "routine"
    for text in CRISES:
        assert detector.assess(text, RULES).urgency == "emergency", text
    # Before: "Good evening." alone sat among short goodbyes and paged the chain. (Reading the report
    # as a whole, added later, also holds this one back: it is switched off to show the fragment's part.)
    monkeypatch.setattr(module, "FRAGMENT_WORDS", 0)
    detector.thresholds = replace(detector.thresholds, whole_vote=None)
    assert detector.assess(GREETED, RULES).urgency == "emergency"
