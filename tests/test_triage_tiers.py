"""Which tier a rule hit lands in: a bare emergency word goes to the on-call reviewer
(possible-emergency), intent, plan, time or means keep it confident, and no cue ever takes an
emergency keyword below the reviewer tier.

The rules run alone, then through the detector with the deterministic stand-in embedding (the
model may raise a rule's urgency, never lower it).
"""

from __future__ import annotations

import re

import pytest

from stopit_mail.cases.detect.bank import Example, make_bank
from stopit_mail.cases.detect.detector import Detector
from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder
from stopit_mail.cases.pretriage import EMERGENCY, ORDINARY, pretriage
from stopit_mail.cases.triage import TriageRulesError, compile_rules, load_rules, triage

RULES = compile_rules(load_rules())
BANK = make_bank([
    Example("emergency", "self-harm", "i swallowed the whole bottle of grandmas heart pills", "en"),
    Example("concern", "self-harm", "lately nothing feels worth getting out of bed for", "en"),
    Example("negative", "other", "the cafeteria pizza on friday was cold again", "en"),
])

BARE = [
    "We discussed suicide in health class today.",
    "In history we read about a school shooting and a stabbing.",
    "We wrote an essay about guns in class.",
    "Hubo un tiroteo en otra ciudad y lo vimos en clase.",
]
CONFIDENT = [
    "I am going to kill myself tonight",
    "my friend is suicidal and gave away her things",
    "he said he'd stab him tomorrow after school",
    "he has a knife in his backpack right now",
    "publicaron que van a balacear la escuela el lunes",
    "mi amiga dice que se quiere suicidar",
]


def assess(text: str) -> str:
    embedder = StandInEmbedder()
    found = Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=BANK).assess(text, RULES)
    return found.urgency


@pytest.mark.parametrize("text", BARE)
def test_a_bare_emergency_word_goes_to_the_reviewer_not_the_chain(text: str) -> None:
    assert triage(text, RULES).urgency == "possible-emergency", triage(text, RULES).explanation()
    assert assess(text) == "possible-emergency"


@pytest.mark.parametrize("text", CONFIDENT)
def test_intent_a_time_or_a_weapon_seen_now_stays_confident(text: str) -> None:
    assert triage(text, RULES).urgency == "emergency", triage(text, RULES).explanation()
    assert assess(text) == "emergency"


@pytest.mark.parametrize(("past", "present"), [
    ("my cousin attempted suicide years ago", "my cousin attempted suicide"),
    ("someone brought a gun to school last year and got expelled", "someone brought a gun to school"),
    ("el año pasado un chico me dijo te voy a matar y lo expulsaron", "un chico me dijo te voy a matar"),
])
def test_a_past_resolved_incident_is_held_for_the_reviewer_never_below(past: str, present: str) -> None:
    assert triage(present, RULES).urgency == "emergency"
    held = triage(past, RULES)
    assert held.urgency == "possible-emergency", held.explanation()
    assert "held for the reviewer by" in held.explanation()
    assert any(m.held_by for m in held.matches)
    assert assess(past) == "possible-emergency"


def test_an_intent_cue_confirms_a_bare_word_and_a_hold_still_applies() -> None:
    confirmed = triage("he is going to stab someone", RULES)
    assert confirmed.urgency == "emergency"
    assert any(m.rule == "threat-violence-mention-en" and m.urgency == "emergency" for m in confirmed.matches)
    assert triage("someone got stabbed near the park", RULES).urgency == "possible-emergency"


def test_a_bare_word_is_still_pretriaged_as_an_emergency_at_intake() -> None:
    # Ordering and the fallback page of a message that cannot be processed use the reviewer
    # tier's rules too: a rule sent to the reviewer must not wait behind a flood.
    for text in ("We discussed suicide in health class today.", "nobody is safe at this school anymore"):
        message = f"Subject: report\r\n\r\n{text}\r\n".encode()
        assert pretriage(message).priority == EMERGENCY, text
    assert pretriage(b"Subject: lunch\r\n\r\nthe pizza was cold\r\n").priority == ORDINARY


def _rule(**keys: object) -> dict[str, object]:
    return {"name": "local-rule", "category": "weapons", "language": "en", "patterns": ["sword"], **keys}


@pytest.mark.parametrize(("keys", "message"), [
    ({"urgency": "urgent", "hold": ["last year"]}, 'key "hold" is set on a rule of urgency "urgent"'),
    ({"urgency": "emergency", "confirm": ["tomorrow"]}, 'key "confirm" is set on a rule of urgency "emergency"'),
    ({"urgency": "emergency", "hold": ["re:("]}, "hold[1]"),
    ({"urgency": "possible-emergency", "confirm": ["tomorrow"], "confirm_window": 5000}, "confirm_window"),
])
def test_tier_cues_are_validated(keys: dict[str, object], message: str) -> None:
    with pytest.raises(TriageRulesError, match=re.escape(message)):
        load_rules([_rule(**keys)], include_defaults=False)


def test_an_organisation_rule_can_confirm_and_hold() -> None:
    rules = compile_rules(load_rules([_rule(urgency="possible-emergency", confirm=["tomorrow"],
                                            hold=["last year"])], include_defaults=False))
    assert triage("he showed a sword", rules).urgency == "possible-emergency"
    assert triage("he will bring a sword tomorrow", rules).urgency == "emergency"
    assert triage("last year he brought a sword tomorrow", rules).urgency == "possible-emergency"
