"""Pre-triage at store time: is this stored message possibly an emergency?

The worker claims waiting messages by priority, then age, so a self-harm report stored in the
middle of a flood is processed next instead of after the backlog. The verdict must be cheap
(it runs in the listener's commit path, well under a millisecond) and bounded whatever the
message: only the first `PREFIX_BYTES` are parsed, and only the subject and the first
`TEXT_CHARS` of decoded text are matched, against the emergency rules of the configured triage.

It only orders work: the full triage of the pipeline still decides the case's urgency, and a
message pre-triaged as an emergency that cannot be processed still pages (emergency_fallback).
The detector work may replace the rules here; callers only ever use `pretriage(...)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any

from stopit_mail.cases.triage import CompiledRules, compile_rules, load_rules, triage
from stopit_mail.extract import mime

EMERGENCY = 100
ORDINARY = 0
PREFIX_BYTES = 8 * 1024
TEXT_CHARS = 1000


@lru_cache(maxsize=8)
def _emergency_rules(extra: str, disabled: tuple[str, ...]) -> CompiledRules:
    rules = load_rules(json.loads(extra), disabled=disabled)
    return compile_rules([rule for rule in rules if rule.urgency == "emergency"])


def emergency_rules(extra: list[dict[str, Any]] | None = None, disabled: tuple[str, ...] = ()) -> CompiledRules:
    """The emergency rules of a configuration, compiled once per process."""
    return _emergency_rules(json.dumps(extra or [], sort_keys=True), tuple(disabled))


def head_text(content: bytes) -> tuple[str, str]:
    """Subject and first decoded text of a message, from its first PREFIX_BYTES only."""
    parsed = mime.parse_bytes(content[:PREFIX_BYTES])
    defects: list[str] = []
    text = mime.body_text(parsed.message, 4, 20, defects)
    return mime.header(parsed.message, "Subject")[:500], text[:TEXT_CHARS]


def pretriage(content: bytes, rules: CompiledRules | None = None) -> int:
    """The claim priority of a stored message: EMERGENCY when an emergency rule matches."""
    try:
        subject, text = head_text(content)
        decision = triage(text, rules if rules is not None else emergency_rules(), subject=subject)
    except Exception:  # noqa: BLE001 - ordering work must never refuse a message
        return ORDINARY
    return EMERGENCY if decision.urgency == "emergency" else ORDINARY


def prioritiser(triage_rules: list[dict[str, Any]], disabled: list[str]) -> Callable[[bytes], int]:
    """`pretriage` bound to a configuration's emergency rules (what the store paths call)."""
    return partial(pretriage, rules=emergency_rules(triage_rules, tuple(disabled)))
