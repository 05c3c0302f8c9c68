"""The head's gate on the model's own *reviewer* verdicts (``Thresholds.review_head``).

Routine reports reached the on-call reviewer through the *concern* vote on short, vague complaints
("we are tired of this"). A model-only reviewer verdict that the concern vote carried (emergency
vote under ``review_emergency_vote``) and that the bank's linear head reads as no emergency goes to
*urgent* (a person still reads it within the hour). Never lowered: a verdict the emergency vote
carries, anything the rules raised, a word-for-word review, or a sentence whose closest emergency or
concern example is the organisation's own. Neighbourhoods are built directly, so most of these
tests need neither the model nor the stand-in; the last one uses the real model and skips when the
bank's embeddings are not built (CI).
"""

from __future__ import annotations

from dataclasses import replace

from bank_embeddings import needs_bank_embeddings

from stopit_mail.cases.detect.bank import Example
from stopit_mail.cases.detect.scoring import Neighbourhood
from stopit_mail.cases.detect.sentences import Sentence
from stopit_mail.cases.detect.tiers import DEFAULT_THRESHOLDS, Thresholds, decide, reviewer_or_urgent, unit_verdict
from stopit_mail.cases.triage import compile_rules, load_rules, triage

RULES = compile_rules(load_rules())
RANK = {"emergency": 0, "possible-emergency": 1, "urgent": 2, "routine": 3}
GATE = DEFAULT_THRESHOLDS.review_head
assert GATE is not None


def _hood(emergency: float = 0.1, concern: float = 0.6, head: float | None = GATE - 2.0, source: str = "shipped",
          same: bool = False) -> Neighbourhood:
    """A sentence at the reviewer tier by the vote (never the confident one), its closest concern
    example from ``source``, which the head scores ``head``."""
    crisis = Example("emergency", "self-harm", "the lantern fell into the well behind the barn", "en")
    worry = Example("concern", "self-harm", "the lantern keeps flickering every night", "en", source)
    calm = Example("negative", "other", "the lantern festival is on saturday", "en")
    votes = {"emergency": emergency, "concern": concern, "negative": 1.0 - emergency - concern}
    return Neighbourhood(votes, worry, 0.89, {"emergency": (crisis, 0.87), "concern": (worry, 0.89),
                                              "negative": (calm, 0.87)}, same, head)


def _decided(hood: Neighbourhood, text: str = "the lantern flickers again", limits: Thresholds = DEFAULT_THRESHOLDS
             ) -> tuple[str, str]:
    decision = decide(triage(text, RULES), [Sentence(text)], ["en"], [hood], frozenset({"en"}), "test", limits)
    return decision.urgency, decision.explanation()


def test_a_concern_carried_reviewer_verdict_the_head_reads_as_no_emergency_is_urgent() -> None:
    assert unit_verdict(_hood()).tier == "possible-emergency"
    urgency, why = _decided(_hood())
    assert urgency == "urgent", why
    assert "linear head reads the sentence as no emergency" in why and "emergency vote is 10%" in why
    # At or above the gate, or with no head (a bank too small to fit one), the reviewer is paged.
    assert _decided(_hood(head=GATE))[0] == "possible-emergency"
    assert _decided(_hood(head=None))[0] == "possible-emergency"
    # Switched off, nothing is gated.
    assert _decided(_hood(), limits=replace(DEFAULT_THRESHOLDS, review_head=None))[0] == "possible-emergency"


def test_a_verdict_the_emergency_vote_carries_is_never_gated() -> None:
    cap = DEFAULT_THRESHOLDS.review_emergency_vote
    hood = _hood(emergency=cap, concern=0.2, head=-50.0)
    assert unit_verdict(hood).tier == "possible-emergency"
    assert reviewer_or_urgent(hood, unit_verdict(hood), DEFAULT_THRESHOLDS)[0].tier == "possible-emergency"
    assert _decided(hood)[0] == "possible-emergency"
    assert _decided(_hood(emergency=cap - 0.01, concern=0.3, head=-50.0))[0] == "urgent"


def test_a_sentence_whose_closest_example_is_an_emergency_is_never_gated() -> None:
    """The gate is for what the concern examples carried: when the single closest reviewed example
    is an emergency, that example carried the verdict, whatever the head says."""
    hood = _hood(head=-50.0)
    closest_emergency = replace(hood, nearest=hood.by_label["emergency"][0], similarity=0.91,
                                by_label={**hood.by_label, "emergency": (hood.by_label["emergency"][0], 0.91)})
    assert unit_verdict(closest_emergency).tier == "possible-emergency"
    assert _decided(closest_emergency)[0] == "possible-emergency"
    assert _decided(hood)[0] == "urgent"


def test_rules_word_for_word_reviews_and_an_organisations_own_examples_are_never_gated() -> None:
    text = "I am going to kill myself tonight"
    assert triage(text, RULES).urgency == "emergency"
    assert _decided(_hood(head=-50.0), text)[0] == "emergency"
    # A word-for-word concern (the reviewed example's own label decides) still pages the reviewer.
    assert _decided(_hood(head=-50.0, same=True))[0] == "possible-emergency"
    # The organisation's staff reviewed the closest concern: the shipped bank's head never vetoes it.
    assert _decided(_hood(head=-50.0, source="organisation"))[0] == "possible-emergency"


def test_the_gate_never_lowers_below_urgent_and_leaves_other_tiers_alone() -> None:
    for emergency, concern in ((0.05, 0.55), (0.2, 0.4), (0.0, 0.9)):
        urgency, _ = _decided(_hood(emergency=emergency, concern=concern, head=-50.0))
        assert urgency == "urgent"
    confident = Neighbourhood({"emergency": 0.9, "concern": 0.0, "negative": 0.1},
                              _hood().by_label["emergency"][0], 0.93,
                              {"emergency": (_hood().by_label["emergency"][0], 0.93)}, False, 5.0)
    verdict = unit_verdict(confident)
    assert verdict.tier == "emergency"
    assert reviewer_or_urgent(confident, verdict, DEFAULT_THRESHOLDS) == (verdict, "")


# Written for this test: vague complaints in the ordinary register of routine reports, and crises.
ROUTINE = ("A boy took my son's cap again today. We are tired of this.", "Hindi ito patas.",
           "I'm so done with them.")
CRISES = ("I can't do this anymore, nobody would care if I was gone.",
          "my friend posted goodbye everyone and now she is not answering, she has been cutting")


@needs_bank_embeddings
def test_with_the_real_model_vague_complaints_wait_and_crises_still_page() -> None:
    from stopit_mail.cases.detect.detector import Detector
    from stopit_mail.cases.detect.model import shared_embedder

    embedder, status = shared_embedder()
    assert embedder is not None, status.detail
    gated, ungated = Detector(embedder, status), Detector(embedder, status,
                                                          thresholds=replace(DEFAULT_THRESHOLDS, review_head=None))
    for text in ROUTINE:
        assert ungated.assess(text, RULES).urgency == "possible-emergency", text
        assert gated.assess(text, RULES).urgency == "urgent", text
    for text in CRISES:
        assert RANK[gated.assess(text, RULES).urgency] <= RANK["possible-emergency"], text


def test_a_vague_concern_still_pages_the_reviewer_when_another_sentence_leans_to_an_emergency() -> None:
    """Report-level support: "something is very wrong" after a sentence about belongings given away
    (an emergency vote under the reviewer's threshold, but at the cap) is read in that light."""
    cap = DEFAULT_THRESHOLDS.review_emergency_vote
    vague, other = "something is very wrong", "she gave me her hoodie and asked me to feed her cat"
    leaning = _hood(emergency=cap, concern=0.05, head=1.0)
    assert unit_verdict(leaning).tier == "urgent"
    texts, langs = [Sentence(vague), Sentence(other)], ["en", "en"]
    decision = decide(triage(vague + ". " + other, RULES), texts, langs, [_hood(), leaning], frozenset({"en"}), "test")
    assert decision.urgency == "possible-emergency", decision.explanation()
    # The other sentence not leaning that far: the vague one alone is gated.
    calm = _hood(emergency=cap - 0.1, concern=0.05, head=1.0)
    decision = decide(triage(vague + ". " + other, RULES), texts, langs, [_hood(), calm], frozenset({"en"}), "test")
    assert decision.urgency == "urgent", decision.explanation()
    # A pair containing the vague sentence itself is no support for it.
    pair = [Sentence(vague), Sentence(vague + " " + other)]
    decision = decide(triage(vague, RULES), pair, langs, [_hood(), leaning], frozenset({"en"}), "test")
    assert decision.urgency == "urgent", decision.explanation()
