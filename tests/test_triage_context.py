"""Where the model alone, or a rule's emergency word in another context, pages: the chain only on
strong evidence, the on-call reviewer otherwise, and never anything emergency-like below the
reviewer tier.

- the model alone pages the chain only for a sentence nearer its closest reviewed emergency than
  its closest reviewed negative (``confident_margin``);
- the shared ``[context]`` cues of the rules file (a past incident, schoolwork or fiction, a game,
  a test message) hold a rule's emergency hit, or a sentence the model alone placed among
  emergencies, at possible-emergency;
- "overdose" and "commit suicide" alone go to the reviewer; taken, intended or now stays confident.
"""

from __future__ import annotations

import pytest

from stopit_mail.cases.detect.bank import Example, make_bank
from stopit_mail.cases.detect.detector import Detector
from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder
from stopit_mail.cases.detect.scoring import Neighbourhood
from stopit_mail.cases.detect.sentences import Sentence
from stopit_mail.cases.detect.tiers import decide
from stopit_mail.cases.triage import compile_rules, load_rules, triage
from stopit_mail.cases.triage_context import ContextError, parse_context, shipped_context

RULES = compile_rules(load_rules())
EMERGENCY = Example("emergency", "self-harm", "the blue kite is stuck on the mill roof at dawn", "en")
NEGATIVE = Example("negative", "other", "the blue kite was stuck on the mill roof at the fair", "en")
CONCERN = Example("concern", "self-harm", "lately nothing feels worth getting out of bed for", "en")


def hood(emergency: float, negative: float, vote: float = 0.8, same: bool = False) -> Neighbourhood:
    """A sentence whose neighbours vote ``vote`` emergency, nearest of each label at these
    similarities (``same``: word for word the emergency example)."""
    return Neighbourhood({"emergency": vote, "concern": 0.0, "negative": 1 - vote},
                         EMERGENCY if same or emergency >= negative else NEGATIVE, max(emergency, negative),
                         {"emergency": (EMERGENCY, emergency), "negative": (NEGATIVE, negative),
                          "concern": (CONCERN, 0.5)}, same)


def model_tier(text: str, neighbours: Neighbourhood) -> tuple[str, str]:
    decision = decide(triage(text, RULES), [Sentence(text)], ["en"], [neighbours], frozenset({"en"}), "test")
    return decision.urgency, decision.explanation()


def test_the_model_alone_pages_the_chain_when_a_reviewed_emergency_is_nearer_than_any_negative() -> None:
    urgency, why = model_tier("the blue kite is stuck again", hood(emergency=0.91, negative=0.89))
    assert urgency == "emergency", why


def test_the_model_alone_pages_the_reviewer_when_a_reviewed_negative_is_as_near() -> None:
    urgency, why = model_tier("the blue kite is stuck again", hood(emergency=0.90, negative=0.91))
    assert urgency == "possible-emergency", why
    assert f'reviewed negative example "{NEGATIVE.sentence}" (0.91) is as near' in why
    assert "-> possible-emergency" in why


def test_a_reviewed_emergency_word_for_word_pages_the_chain_whatever_is_near() -> None:
    urgency, why = model_tier("the blue kite is stuck on the mill roof at dawn",
                              hood(emergency=0.99, negative=0.995, vote=1.0, same=True))
    assert urgency == "emergency", why


def test_a_rule_emergency_is_never_lowered_by_the_margin() -> None:
    text = "I am going to kill myself tonight"
    urgency, why = model_tier(text, hood(emergency=0.88, negative=0.93))
    assert triage(text, RULES).urgency == "emergency"
    assert urgency == "emergency", why


def test_a_context_cue_holds_a_model_only_emergency_for_the_reviewer() -> None:
    bank = make_bank([EMERGENCY, Example("emergency", "self-harm", "the blue kite is stuck on the mill roof by dawn", "en"),
                      CONCERN, Example("negative", "other", "the cafeteria pizza on friday was cold again", "en")])
    embedder = StandInEmbedder()
    detector = Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=bank)
    plain = detector.assess("the blue kite is stuck on the mill roof at dawn again", RULES)
    assert plain.urgency == "emergency" and not plain.matches, plain.explanation()
    held = detector.assess("in the book the blue kite is stuck on the mill roof at dawn again", RULES)
    assert held.urgency == "possible-emergency", held.explanation()
    assert 'the sentence says "in the book"' in held.explanation()


@pytest.mark.parametrize(("held", "cue"), [
    ("for creative writing i wrote a story where the main character brings a gun to school", "creative writing"),
    ("Just an update: the student I reported last spring for self-harm is doing well now.", "last spring"),
    ("Lo del mes pasado del alumno que trajo una navaja ya lo resolvió la dirección.", "mes pasado"),
    ("la canción que ensayamos dice \"ya no quiero vivir\" profe", "canción"),
    ("a kid told my son \"I'm going to shoot you\" during a game of cops and robbers", "cops and robbers"),
])
def test_a_shared_context_cue_holds_a_rule_emergency_at_the_reviewer_never_below(held: str, cue: str) -> None:
    decision = triage(held, RULES)
    assert decision.urgency == "possible-emergency", decision.explanation()
    assert any(cue in m.held_by for m in decision.matches), decision.explanation()


def test_a_cue_of_the_present_cancels_a_context_hold() -> None:
    reposted = "someone reposted last year's threat but now it says he is going to shoot everyone this friday"
    assert triage(reposted, RULES).urgency == "emergency", triage(reposted, RULES).explanation()
    assert shipped_context().within("last year he got expelled") == "last year"
    assert shipped_context().within("last year's note again and he says tonight") == ""


@pytest.mark.parametrize("text", [
    "I am going to kill myself tonight",
    "he has a knife in his backpack right now",
    "mi amiga dice que se quiere suicidar",
])
def test_without_a_context_cue_an_emergency_stays_confident(text: str) -> None:
    assert triage(text, RULES).urgency == "emergency", triage(text, RULES).explanation()


@pytest.mark.parametrize(("text", "urgency"), [
    ("in health class we learned about opioid overdose and naloxone", "possible-emergency"),
    ("we wrote essays on why people commit suicide", "possible-emergency"),
    ("my friend overdosed on her moms pills an hour ago", "emergency"),
    ("she said she is going to overdose tonight", "emergency"),
    ("my brother took an overdose of tylenol", "emergency"),
    ("he wants to commit suicide", "emergency"),
])
def test_overdose_and_commit_suicide_alone_go_to_the_reviewer(text: str, urgency: str) -> None:
    assert triage(text, RULES).urgency == urgency, triage(text, RULES).explanation()


def test_the_shipped_context_cues_load_and_match_whole_phrases() -> None:
    cues = shipped_context()
    assert cues.within("In the novel the hero dies") == "In the novel"
    assert cues.within("she said tonight is the night") == ""


@pytest.mark.parametrize(("table", "message"), [
    ({"hold": ["years ago"], "extra": 1}, "unknown key(s) ['extra']"),
    ({"hold": "years ago"}, "hold must be a list"),
    ({"hold": ["years ago"], "hold_window": -1}, "hold_window must be an integer"),
    ({"hold": ["..."]}, "[context] hold:"),
])
def test_a_malformed_context_table_is_refused(table: dict[str, object], message: str) -> None:
    with pytest.raises(ContextError) as raised:
        parse_context(table, "test")
    assert message in str(raised.value)
