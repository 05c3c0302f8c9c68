"""The report read as a whole (``context.ordinary_as_a_whole``, issue 9): the model's own reviewer
or confident verdict is *urgent* when the whole report resembles no reviewed emergency or concern.

Neighbourhoods are built directly, so the first tests need neither the model nor the stand-in; the
last uses the real model and skips when the bank's embeddings are not built (CI).
"""

from __future__ import annotations

from dataclasses import replace

from bank_embeddings import needs_bank_embeddings

from stopit_mail.cases.detect.bank import Example
from stopit_mail.cases.detect.detector import whole_text
from stopit_mail.cases.detect.scoring import Neighbourhood
from stopit_mail.cases.detect.sentences import Sentence
from stopit_mail.cases.detect.tiers import DEFAULT_THRESHOLDS, Thresholds, decide
from stopit_mail.cases.triage import compile_rules, load_rules, triage

RULES = compile_rules(load_rules())
VOTE, HEAD = DEFAULT_THRESHOLDS.whole_vote, DEFAULT_THRESHOLDS.whole_head
assert VOTE is not None
# No rule matches these words: only the model raises them.
LOST = "the blue lantern was left in the east hall on wednesday"
CRISIS = Example("emergency", "self-harm", "the lantern fell in the east hall", "en")
WORRY = Example("concern", "self-harm", "the lantern keeps flickering", "en")
CALM = Example("negative", "other", "the lantern is in the lost property box", "en")


def _hood(emergency: float, concern: float, head: float, same: bool = False,
          crisis: Example = CRISIS) -> Neighbourhood:
    votes = {"emergency": emergency, "concern": concern, "negative": 1.0 - emergency - concern}
    nearest = crisis if emergency >= concern else WORRY
    return Neighbourhood(votes, nearest, 0.9, {"emergency": (crisis, 0.9), "concern": (WORRY, 0.88),
                                               "negative": (CALM, 0.89)}, same, head)


RAISED = _hood(0.5, 0.1, 1.0)  # a reviewer verdict from the model alone


def _decided(text: str, sentence: Neighbourhood, whole: Neighbourhood | None,
             limits: Thresholds = DEFAULT_THRESHOLDS) -> tuple[str, str, list[frozenset[int]]]:
    asked: list[frozenset[int]] = []

    def reading(parts: frozenset[int]) -> tuple[str, Neighbourhood] | None:
        asked.append(parts)
        return None if whole is None else (text, whole)

    decision = decide(triage(text, RULES), [Sentence(text)], ["en"], [sentence], frozenset({"en"}), "test",
                      limits, whole=reading)
    return decision.urgency, decision.explanation(), asked


def test_a_report_that_as_a_whole_resembles_no_emergency_is_urgent() -> None:
    assert triage(LOST, RULES).matches == []
    urgency, why, asked = _decided(LOST, RAISED, _hood(VOTE / 2, 0.0, HEAD - 1))
    assert urgency == "urgent", why
    assert "read as a whole" in why and asked == [frozenset({0})]
    # The confident tier too: the whole report is read before anyone is paged.
    confident = _hood(0.9, 0.0, 5.0)
    assert _decided(LOST, confident, _hood(0.1, 0.0, -3.0))[0] == "urgent"


def test_the_whole_reading_keeps_the_page_at_either_edge_or_without_a_reading() -> None:
    assert _decided(LOST, RAISED, _hood(VOTE - 0.1, 0.1, HEAD - 1))[0] == "possible-emergency"
    assert _decided(LOST, RAISED, _hood(0.1, 0.0, HEAD))[0] == "possible-emergency"
    assert _decided(LOST, RAISED, _hood(0.1, 0.0, HEAD - 1), limits=replace(DEFAULT_THRESHOLDS, whole_vote=None)
                    )[0] == "possible-emergency"
    # The model failed reading the whole report: its sentences decide.
    assert _decided(LOST, RAISED, None)[0] == "possible-emergency"


def test_the_whole_reading_never_lowers_a_danger_now_a_rule_a_review_or_an_organisations_example() -> None:
    quiet = _hood(0.1, 0.0, -3.0)
    # A word of a danger now anywhere in the report.
    assert _decided(f"{LOST} and she is not answering", RAISED, quiet)[0] == "possible-emergency"
    # A rule's emergency stays an emergency; a sentence someone reviewed word for word stays raised.
    crisis = "I am going to kill myself"
    assert triage(crisis, RULES).urgency == "emergency"
    assert _decided(crisis, RAISED, quiet)[0] == "emergency"
    assert _decided(LOST, _hood(1.0, 0.0, 1.0, same=True), quiet)[0] == "emergency"
    own = replace(CRISIS, source="organisation")
    assert _decided(LOST, _hood(0.5, 0.1, 1.0, crisis=own), quiet)[0] == "possible-emergency"
    # Nothing raised by the model: nothing to read.
    assert _decided(LOST, _hood(0.05, 0.0, -4.0), quiet)[2] == []


def test_the_whole_text_is_the_messages_holding_the_raised_sentences() -> None:
    sentences = [Sentence("I lost my lantern."), Sentence("It is blue."),
                 Sentence("Drama club rehearsal moved to Friday.", part=1)]
    assert whole_text(sentences, frozenset({0})) == "I lost my lantern. It is blue."
    assert whole_text(sentences, frozenset({0, 1})).endswith("moved to Friday.")
    assert whole_text(sentences, frozenset()) == ""


# Written for this test: a lost jacket (Tagalog) and crises.
LOST_JACKET = ("Minsan may nawalang jacket ako sa gym noong Biyernes, kulay berde at may pangalan ko sa loob. "
               "Pakibalik po sa office kung may nakakita.")
CRISES = ("she took all her mom's sleeping pills an hour ago and is not answering her phone",
          "ininom ng kapatid ko lahat ng gamot ni lola kanina, ayaw na niyang gumising")


@needs_bank_embeddings
def test_with_the_real_model_a_lost_jacket_no_longer_pages_and_crises_still_do() -> None:
    from stopit_mail.cases.detect.detector import Detector
    from stopit_mail.cases.detect.model import shared_embedder

    embedder, status = shared_embedder()
    assert embedder is not None, status.detail
    reading = Detector(embedder, status)
    assert reading.assess(LOST_JACKET, RULES).urgency == "urgent"
    for text in CRISES:
        assert reading.assess(text, RULES).urgency == "emergency", text
    # Before: read sentence by sentence only, the lost jacket went to the on-call reviewer.
    sentences_only = Detector(embedder, status, thresholds=replace(DEFAULT_THRESHOLDS, whole_vote=None))
    assert sentences_only.assess(LOST_JACKET, RULES).urgency == "possible-emergency"


NO_DANGER = ("someone keeps putting my face on stickers in the class chat. no one is in danger, "
             "I just want them deleted")


def test_a_reviewer_verdict_where_the_writer_says_nobody_is_in_danger_is_urgent() -> None:
    assert triage(NO_DANGER, RULES).urgency not in ("emergency", "possible-emergency")
    # Whatever the whole report's vote (no whole reading at all here).
    urgency, why, asked = _decided(NO_DANGER, RAISED, None)
    assert urgency == "urgent", why
    assert 'says "no one is in danger"' in why and asked == []
    for words in ("No voy a hacer ninguna tontería, solo quiero que paren.", "ich mache nichts dummes",
                  "Я ничего с собой не сделаю.", "我不会做傻事的", "ما في خطر بس صار مزعج"):
        assert _decided(f"{LOST}. {words}", RAISED, None)[0] == "urgent", words


def test_nobody_in_danger_never_lowers_a_confident_verdict_a_rule_or_a_third_partys_word() -> None:
    assert _decided(NO_DANGER, _hood(0.9, 0.0, 5.0), None)[0] == "emergency"
    crisis = "I am going to kill myself. no one is in danger"
    assert triage(crisis, RULES).urgency == "emergency"
    assert _decided(crisis, RAISED, None)[0] == "emergency"
    # "She says she won't do anything stupid" is a warning sign, not the writer's answer.
    assert _decided(f"{LOST}. she says she is not going to do anything stupid", RAISED, None)[0] \
        == "possible-emergency"
