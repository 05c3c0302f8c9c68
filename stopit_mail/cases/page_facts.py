"""Page facts: what a page may say about a pre-triaged emergency without opening its sealed bytes.

Every message is sealed at the 250, an emergency too (issue 10). So that a lost or corrupt
identity key can never blind an emergency's page, the store-time pre-triage, which reads the
plaintext in memory anyway, keeps the non-identifying facts a page needs in their own column
(`raw_messages.page_facts`): which emergency rules fired (rule, category, urgency, subject or
body; never the matched words), and where, when and who is at risk as far as the first words
say (`escalation_facts`, who by role only). Never the reporter's address, name or alias.

The phrases come from the reporter's own words, and a reporter signs with their name and
address. So every phrase passes twice through the identity scrub: `extract_facts` drops a
phrase holding a word of any address or name the message names as its sender (From, Sender,
Reply-To, the envelope) or an address written anywhere in its first words (a signature, a
second address), and the redaction of outgoing mail (`Traces.scrub`) blanks what is left.
"""

from __future__ import annotations

from email.message import Message
from typing import Any

from stopit_mail.cases.escalation_facts import Facts, extract_facts, reporter_tokens
from stopit_mail.cases.triage_decision import TriageDecision
from stopit_mail.extract import mime
from stopit_mail.outbound.redact import Traces, written_addresses

SENDER_HEADERS = ("From", "Sender", "Reply-To", "Return-Path")
KINDS = ("where", "when", "who")


def sender_traces(message: Message, text: str, mail_from: str | None) -> Traces:
    """Everything in a message's head that can name who sent it: sender headers, the envelope
    sender, and every address written in its first words."""
    traces = Traces()
    for header in SENDER_HEADERS:
        for name, address in mime.addresses(message, header):
            traces.add_address(address)
            traces.add_name(name)
    traces.add_address(mail_from or "")
    for address in written_addresses(text):
        traces.add_address(address)
    return traces


def _banned(traces: Traces) -> set[str]:
    banned = set(traces.words())
    for address in traces.addresses:
        banned |= reporter_tokens(address, None)
    for name in traces.names:
        banned |= reporter_tokens(None, name)
    return banned


def intake_facts(message: Message, subject: str, text: str, decision: TriageDecision,
                 mail_from: str | None) -> dict[str, Any]:
    """The page facts of a message the pre-triage found to be an emergency (JSON-ready)."""
    traces = sender_traces(message, f"{subject}\n{text}", mail_from)
    found = extract_facts([text, subject], _banned(traces))
    reasons: list[dict[str, str]] = []
    for match in decision.matches:
        reason = {"rule": match.rule, "category": match.category, "urgency": match.urgency, "field": match.field}
        if reason not in reasons:
            reasons.append(reason)
    facts: dict[str, Any] = {"reasons": reasons, "categories": list(decision.categories)}
    for kind in KINDS:
        facts[kind] = [traces.scrub(phrase) for phrase in getattr(found, kind)]
    return facts


def as_facts(stored: dict[str, Any] | None) -> Facts:
    """Where, when and who of stored page facts (empty when there are none)."""
    stored = stored or {}
    return Facts(*[[str(p) for p in stored.get(kind) or []] for kind in KINDS])


def as_matches(stored: dict[str, Any] | None) -> list[dict[str, str]]:
    """The stored reasons in the shape of a case's triage matches (`escalation_pages.reasons`)."""
    return [dict(r) for r in (stored or {}).get("reasons") or [] if isinstance(r, dict)]
