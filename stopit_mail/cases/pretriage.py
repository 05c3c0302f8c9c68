"""Pre-triage at store time: is this stored message possibly an emergency?

The worker claims waiting messages by priority, then age, so a self-harm report stored in the
middle of a flood is processed next instead of after the backlog. The verdict must be cheap
(it runs in the listener's commit path, well under a millisecond) and bounded whatever the
message: only the first `PREFIX_BYTES` are parsed, and only the subject and the first
`TEXT_CHARS` of decoded text are matched, against the emergency rules of the configured triage
(confident and possible: a word the rules send to the reviewer first, or a hold cue such as "last
year", must not put a report behind the backlog or keep it from paging should processing fail).

The shipped emergency rules read English and Spanish only. A message the rules cannot read (most
of its first text in another language, by py3langid) is claimed before ordinary reports, after
emergencies (`UNREAD_BY_RULES`): only the worker's multilingual model can tell whether it is an
emergency, so it must not wait behind a flood of ordinary English reports either.

It only orders work: the full triage of the pipeline still decides the case's urgency, and a
message pre-triaged as an emergency that cannot be processed still pages (emergency_fallback).
For an emergency the verdict also carries its page facts (`page_facts`): the bytes are sealed
at the 250 like every message's, and those facts are what a page says should the identity key
be lost before the worker opens them.
The detector work may replace the rules here; callers only ever use `pretriage(...)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import Message
from functools import lru_cache, partial
from typing import Any, Protocol

from stopit_mail.cases.detect.language import UNDETERMINED, identify
from stopit_mail.cases.page_facts import intake_facts
from stopit_mail.cases.triage import CompiledRules, compile_rules, load_rules, triage
from stopit_mail.cases.triage_decision import URGENCIES
from stopit_mail.extract import mime

EMERGENCY = 100
# Written in a language the emergency rules cannot read: ahead of the backlog, behind emergencies.
UNREAD_BY_RULES = 50
ORDINARY = 0
PREFIX_BYTES = 8 * 1024
TEXT_CHARS = 1000
# Urgencies that pre-triage as an emergency: the confident tier and the reviewer's.
PAGED = URGENCIES[:2]
# Languages the shipped emergency rules are written in (triage_rules.toml).
RULE_LANGUAGES = frozenset({"en", "es"})
# Identification on this much of the text: enough to be reliable, cheap in the listener's path.
LANGUAGE_CHARS = 400
# Below this the identification is a guess: the text counts as readable (ordinary order).
LANGUAGE_CONFIDENCE = 0.8


@lru_cache(maxsize=8)
def _emergency_rules(extra: str, disabled: tuple[str, ...]) -> CompiledRules:
    rules = load_rules(json.loads(extra), disabled=disabled)
    return compile_rules([rule for rule in rules if rule.urgency in PAGED])


def emergency_rules(extra: list[dict[str, Any]] | None = None, disabled: tuple[str, ...] = ()) -> CompiledRules:
    """The emergency rules of a configuration, compiled once per process."""
    return _emergency_rules(json.dumps(extra or [], sort_keys=True), tuple(disabled))


@dataclass(frozen=True)
class Verdict:
    """The pre-triage of one message: its claim priority and, for an emergency, its page facts."""

    priority: int = ORDINARY
    facts: dict[str, Any] | None = None


class Prioritise(Protocol):
    """What the store paths call on every message before sealing it (`prioritiser`)."""

    def __call__(self, content: bytes, mail_from: str | None = None) -> Verdict: ...


def _head(content: bytes) -> tuple[Message, str, str]:
    parsed = mime.parse_bytes(content[:PREFIX_BYTES])
    defects: list[str] = []
    text = mime.body_text(parsed.message, 4, 20, defects)
    return parsed.message, mime.header(parsed.message, "Subject")[:500], text[:TEXT_CHARS]


def head_text(content: bytes) -> tuple[str, str]:
    """Subject and first decoded text of a message, from its first PREFIX_BYTES only."""
    _message, subject, text = _head(content)
    return subject, text


def _rules_read(subject: str, text: str) -> bool:
    """Whether the emergency rules can read this text (its language is one they are written in,
    or there is too little text to tell)."""
    language, probability = identify(f"{subject}\n{text}"[:LANGUAGE_CHARS])
    return language in RULE_LANGUAGES or language == UNDETERMINED or probability < LANGUAGE_CONFIDENCE


def pretriage(content: bytes, mail_from: str | None = None, rules: CompiledRules | None = None) -> Verdict:
    """The claim priority of a stored message (EMERGENCY when an emergency or possible-emergency
    rule matches, UNREAD_BY_RULES when the rules cannot read its language) and, for an emergency, its page facts (`mail_from`, the envelope sender, is
    kept out of them)."""
    try:
        message, subject, text = _head(content)
        decision = triage(text, rules if rules is not None else emergency_rules(), subject=subject)
    except Exception:  # noqa: BLE001 - ordering work must never refuse a message
        return Verdict()
    if decision.urgency not in PAGED:
        return Verdict(ORDINARY if _rules_read(subject, text) else UNREAD_BY_RULES)
    try:
        return Verdict(EMERGENCY, intake_facts(message, subject, text, decision, mail_from))
    except Exception:  # noqa: BLE001 - no facts is still an emergency: the page says "does not say"
        return Verdict(EMERGENCY, {})


def prioritiser(triage_rules: list[dict[str, Any]], disabled: list[str]) -> Prioritise:
    """`pretriage` bound to a configuration's emergency rules (what the store paths call).

    The language identifier is loaded here (a second, once per process) rather than on the first
    message, whose 250 would wait for it."""
    identify("warm up")
    return partial(pretriage, rules=emergency_rules(triage_rules, tuple(disabled)))
