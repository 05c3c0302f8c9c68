"""Report-level context (``detect.context``): a report that would page the chain at once, but says
as a whole that its danger is past and handled, or is schoolwork, a game or the writer letting off
steam, goes to the on-call reviewer first (possible-emergency), never lower; a word of a danger now
anywhere in the report keeps the page; every hold quotes the words that made it.
"""

from __future__ import annotations

from typing import Any

import pytest
from bank_embeddings import needs_bank_embeddings

from stopit_mail.cases.detect.bank import Example, make_bank
from stopit_mail.cases.detect.context import ReportContextError, parse_report_context, shipped_report_context
from stopit_mail.cases.detect.detector import Detector
from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder, shared_embedder
from stopit_mail.cases.detect.sentences import PART_BREAK
from stopit_mail.cases.triage import compile_rules, load_rules

RULES = compile_rules(load_rules())
# Nonsense wording, so that only the stand-in's shared words (never a rule) make the emergency.
EMERGENCY = Example("emergency", "self-harm", "the blue kite is stuck on the mill roof at dawn", "en")
BANK = make_bank([EMERGENCY, Example("emergency", "self-harm", "the blue kite is stuck on the mill roof by dawn", "en"),
                  Example("concern", "self-harm", "lately nothing feels worth getting out of bed for", "en"),
                  Example("negative", "other", "the cafeteria pizza on friday was cold again", "en")])
KITE = "the blue kite is stuck on the mill roof at dawn again."


def assess(text: str) -> tuple[str, str]:
    embedder = StandInEmbedder()
    found = Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=BANK).assess(text, RULES)
    return found.urgency, found.explanation()


@pytest.mark.parametrize(("cue", "kind"), [
    ("The police handled it and he is doing much better now.", "a past incident"),
    ("La policía ya lo resolvió, gracias.", "a past incident"),
    ("Il y a deux ans. Elle va beaucoup mieux maintenant.", "a past incident"),
    ("警察已经处理好了。", "a past incident"),
    ("For my essay I wrote a story where this happens.", "schoolwork"),
    ("Our airsoft club meets behind the gym with orange tip replicas.", "a game"),
    ("just venting, not a report.", "a joke"),
])
def test_a_model_only_emergency_in_a_report_with_a_cue_goes_to_the_reviewer(cue: str, kind: str) -> None:
    assert assess(KITE)[0] == "emergency"
    urgency, why = assess(f"{KITE} {cue}")
    assert urgency == "possible-emergency", why
    assert "the report says" in why and kind in why and "the reviewer confirms" in why


@pytest.mark.parametrize("now", ["He is doing it again tonight.", "Now he says it's happening again.",
                                 "Hoy otra vez.", "今晚又要去。", "She is not answering."])
def test_a_danger_now_anywhere_in_the_report_keeps_the_page(now: str) -> None:
    urgency, why = assess(f"{KITE} The police handled it last year. 警察已经处理好了. {now}")
    assert urgency == "emergency", why


def test_only_the_message_holding_the_emergency_can_hold_it() -> None:
    notice = "Dear families, the drama club rehearsal is on Tuesday. The police handled the parking problem."
    urgency, why = assess(f"{KITE}\n{PART_BREAK}\n{notice}")
    assert urgency == "emergency", why
    urgency, why = assess(f"my son showed me this\n{PART_BREAK}\n{KITE} The police handled it.")
    assert urgency == "possible-emergency", why
    urgency, why = assess(f"{KITE} The police handled it.\n{PART_BREAK}\nHe posted it again tonight.")
    assert urgency == "emergency", why


def test_a_rule_emergency_is_held_and_not_a_joke_is_no_joke() -> None:
    urgency, why = assess("me voy a matar, es broma jaja")
    assert urgency == "possible-emergency", why
    assert 'rule "' in why and '"es broma"' in why
    assert assess("me voy a matar, no es broma")[0] == "emergency"


@pytest.mark.parametrize(("denied", "said"), [
    ("He said he is not going to kill himself, he was just upset.", "He said he is going to kill himself."),
    ("mi hermano dice que no quiere morir, solo está triste", "mi hermano dice que quiere morir"),
])
def test_a_denied_rule_emergency_goes_to_the_reviewer_and_the_same_words_said_page(denied: str, said: str) -> None:
    urgency, why = assess(denied)
    assert urgency == "possible-emergency", why
    assert 'rule "self-harm-intent-' in why and "(the words of harm are denied" in why
    assert assess(said)[0] == "emergency"


def test_words_of_the_present_inside_a_cue_do_not_cancel_it() -> None:
    context = shipped_report_context()
    cue = context.cue(["Last spring it was scary.", "She is fine now and in therapy now."])
    assert cue is not None and cue.kind == "past" and cue.words == "is fine now"
    assert context.cue(["She is fine now.", "Right now she is texting goodbye."]) is None


def test_nothing_below_an_emergency_moves_and_a_reviewed_emergency_word_for_word_keeps_the_page() -> None:
    urgency, _ = assess("the cafeteria pizza was cold again, the police handled it")
    assert urgency in ("routine", "urgent")
    urgency, why = assess(f"{EMERGENCY.sentence}. The police handled it.")
    assert urgency == "emergency", why


def test_every_shipped_kind_compiles_and_explains_itself() -> None:
    context = shipped_report_context()
    assert {kind for kind, _, _ in context.kinds} == {"past", "discussion", "play", "not-serious", "denied"}
    assert all(why.strip() for _, why, _ in context.kinds)


GOOD: dict[str, Any] = {"joined": ["zh"], "kinds": {"past": {"why": "past", "en": ["was handled"]}},
                        "present": {"en": ["tonight"]}}


@pytest.mark.parametrize(("data", "message"), [
    ({**GOOD, "extra": 1}, "expected exactly the keys"),
    ({**GOOD, "kinds": {}}, "at least one kind"),
    ({**GOOD, "kinds": {"past": {"en": ["x"]}}}, "needs a why"),
    ({**GOOD, "kinds": {"past": {"why": "w", "en": []}}}, "non-empty list"),
    ({**GOOD, "kinds": {"past": {"why": "w", "en": ["..."]}}}, "phrase '...'"),
    ({**GOOD, "present": {"zh": ["  "]}}, "non-empty list"),
])
def test_a_malformed_cue_file_is_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ReportContextError, match=message):
        parse_report_context(data, "test")
    assert parse_report_context(GOOD, "test").cue(["it was handled"]) is not None


@needs_bank_embeddings
def test_with_the_real_model_a_handled_threat_goes_to_the_reviewer_and_a_new_one_pages() -> None:
    embedder, status = shared_embedder()
    assert embedder is not None, status.detail
    detector = Detector(embedder, status)
    threat = "someone wrote on the bathroom wall that he will shoot everyone at school on friday."
    assert detector.assess(threat, RULES).urgency == "emergency"
    handled = detector.assess(f"{threat} The police handled it and the student was expelled.", RULES)
    assert handled.urgency == "possible-emergency", handled.explanation()
    again = detector.assess(f"{threat} The police handled it, but now he says it again for tonight.", RULES)
    assert again.urgency == "emergency", again.explanation()
