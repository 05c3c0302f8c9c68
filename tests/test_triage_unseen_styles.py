"""Emergencies and lookalikes written in styles the detector had seen little of (issue 9, recall17).

- Emoji are words in a teen's report: the cache key keeps them ("💊💊 bye" is not "bye"), and the
  few that picture a means or a place are glossed in words for the model ("🪦🔪 (grave knife)").
- A victim quoting the algospeak thrown at them ("go unalive yourself", "nobody would miss u") and
  "kms" groaned over homework are not the writer's intent.
- A named game being played, or a coach's talk of a match, holds a rule's emergency for the
  reviewer; a word of now or tomorrow near it still pages the chain.

The last test uses the real model and skips when the bank's embeddings are not built (CI).
"""

from __future__ import annotations

import pytest

from stopit_mail.cases.detect.bank import Example, make_bank
from stopit_mail.cases.detect.detector import Detector
from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder
from stopit_mail.cases.detect.sentences import cache_key, gloss_emoji, report_sentences
from stopit_mail.cases.triage import compile_rules, load_rules, triage

from triage_dev import bank_embeddings_built

RULES = compile_rules(load_rules())
RANK = {"emergency": 0, "possible-emergency": 1, "urgent": 2, "routine": 3}


def test_emoji_stay_in_the_cache_key_and_a_report_keeps_both_sentences() -> None:
    assert cache_key("💊💊 BYE!!") != cache_key("bye")
    assert cache_key("he sent 🔫🏫") != cache_key("he sent")
    # Punctuation, case and spacing still fold, emoji with or without their variation selector alike.
    assert cache_key("⚰️ see u,  NEVER") == cache_key("⚰ see u never")
    assert [s.text for s in report_sentences("bye.\n💊💊 bye")] == ["bye.", "💊💊 (pills) bye"]


def test_a_sentence_with_emoji_is_not_read_as_the_same_words_without_them() -> None:
    """The per-process sentence cache: "bye" seen first must not answer for "🪦💊 bye"."""
    bank = make_bank([Example("emergency", "self-harm", "the lantern fell into the well behind the barn", "en"),
                      Example("negative", "other", "the lantern festival is on saturday", "en")])
    embedder = StandInEmbedder()
    detector = Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=bank)
    detector.embed(["bye"])
    detector.embed(["🪦💊 bye", "BYE!"])
    assert detector.embedded == 2  # the pictured sentence is embedded itself; "BYE!" is "bye" again


def test_danger_emoji_are_glossed_for_the_model_and_laughter_is_not() -> None:
    assert gloss_emoji("my bff sent 🪦🔪🩸 and gn forever") == "my bff sent 🪦🔪🩸 (grave knife blood) and gn forever"
    assert gloss_emoji("⚰️💊⚰️ love u") == "⚰️💊⚰️ (coffin pills) love u"
    assert gloss_emoji("he sent 🔫🏫 tmrw") == "he sent 🔫🏫 (gun school) tmrw"
    for as_written in ("lol 💀💀 im dead", "that sandwich is the bomb 💣😂", "she ate 🔥🔥", "no emoji at all"):
        assert gloss_emoji(as_written) == as_written


@pytest.mark.parametrize("quoted", [
    'they keep commenting "go unalive yourself" and "nobody would miss u" under my videos',
    "kms this homework is never ending, why are there 60 problems",
    "kms that quiz was brutal lmao",
])
def test_quoted_algospeak_and_a_homework_groan_do_not_page_the_chain(quoted: str) -> None:
    decision = triage(quoted, RULES)
    assert decision.urgency != "emergency", decision.explanation()


@pytest.mark.parametrize("meant", [
    "she says she will unalive herself when her parents leave",
    "kms tonight, i already wrote the letter",
    "nobody would miss me if i was gone",
    "kms this weekend, i have the pills saved",
])
def test_the_writers_own_algospeak_still_pages_the_chain(meant: str) -> None:
    decision = triage(meant, RULES)
    assert decision.urgency == "emergency", decision.explanation()


@pytest.mark.parametrize(("held", "cue"), [
    ('in among us he said "im gonna kill u in electrical" and we all laughed', "in among us"),
    ("coach said we are going to kill them and bury their defense", "coach said"),
    ("en free fire mi primo siempre dice que me va a matar jaja", "en free fire"),
])
def test_a_game_or_a_coachs_talk_holds_a_rule_emergency_for_the_reviewer(held: str, cue: str) -> None:
    decision = triage(held, RULES)
    assert decision.urgency == "possible-emergency", decision.explanation()
    assert any(cue in m.held_by for m in decision.matches), decision.explanation()


def test_a_threat_near_a_game_with_a_time_still_pages_the_chain() -> None:
    for text in ("in fortnite chat he said he is going to shoot up the school tomorrow",
                 "dice que lo va a matar después del partido"):
        assert triage(text, RULES).urgency == "emergency", triage(text, RULES).explanation()


@pytest.mark.parametrize("blackmailed", [
    'un perfil falso tiene videos de mi prima y le pide dinero para mañana, ella dice "si los publican me mato"',
    "jemand erpresst meinen bruder mit nacktfotos, er meinte er bringt sich dann eben um wenn die rauskommen",
    "quelquun fait chanter ma copine avec ses photos, elle dit que si ça sort je me tue",
])
def test_sextortion_with_a_risk_of_self_harm_pages_in_any_language(blackmailed: str) -> None:
    decision = triage(blackmailed, RULES)
    assert decision.urgency == "emergency", decision.explanation()
    assert "sextortion-self-harm" in {m.rule for m in decision.matches}, decision.explanation()


@pytest.mark.parametrize("hyperbole", [
    "si repruebo me mato", "si mi mamá ve las fotos del viaje me mata jaja",
    "si publican mis fotos de la fiesta me muero de vergüenza",
])
def test_me_mato_without_blackmail_or_images_is_not_the_sextortion_rule(hyperbole: str) -> None:
    assert "sextortion-self-harm" not in {m.rule for m in triage(hyperbole, RULES).matches}


@pytest.mark.skipif(not bank_embeddings_built(), reason="no precomputed bank embeddings for this bank: "
                    "python bench/triage_bank_vectors.py")
def test_with_the_real_model_an_emoji_goodbye_reaches_a_person() -> None:
    from stopit_mail.cases.detect.model import shared_embedder

    embedder, status = shared_embedder()
    assert embedder is not None, status.detail
    detector = Detector(embedder, status)
    # Written for this test. The plain words first, so a cache that dropped the emoji would answer.
    assert detector.assess("he sent tmrw", RULES).urgency == "routine"
    pictured = detector.assess("he sent 🔫🏫 tmrw", RULES)
    assert RANK[pictured.urgency] <= RANK["urgent"], pictured.explanation()
    assert "(gun school)" in pictured.explanation()
    goodbye = detector.assess("last msg from him was ⚰️💊 and then nothing", RULES)
    assert RANK[goodbye.urgency] <= RANK["possible-emergency"], goodbye.explanation()
