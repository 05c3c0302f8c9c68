"""What a referral says, so an office can act on it without asking us first.

An office (Title IX, the dean on call, counselling) needs what happened: the reporter's own
words, each piece of evidence with its text and how far it can be trusted (DKIM/ARC result,
origin with confidence), why stopit triaged it as it did, and staff's note. For an emergency
it also needs where, when and who is at risk, as far as the report says it (the same short
phrases a page carries, `escalation_facts`).

Unlike a notice to the alleged sender, a referral may carry the reporter's words; what it may
not carry without their recorded consent is who they are. Every text from a report is
therefore scrubbed of the reporter's identifiers (addresses in any form, name words, alias
codes: `reporter_traces(..., words=False)`), and the composed mail is checked once more by
the leak guard with the same traces. With consent nothing is scrubbed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from stopit_mail.cases.aliases import ALLEGED_SENDER
from stopit_mail.cases.escalation_pages import case_facts
from stopit_mail.cases.escalation_replies import own_words
from stopit_mail.models import Case, Evidence
from stopit_mail.outbound.redact import Traces
from stopit_mail.textsafe import terminal_safe

# Long texts are cut in the mail body; the attached evidence (or stopit staff) has all of it.
MAX_WORDS_CHARS = 6000
MAX_EVIDENCE_CHARS = 3000
EMERGENCY = "emergency"


@dataclass
class Content:
    """Template variables of a referral's body, every report text already scrubbed."""

    reasons: list[str] = field(default_factory=list)  # the triage's explanation, staff's reclassification
    reports: list[dict[str, str]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    facts: dict[str, list[str]] | None = None  # emergencies: where, when, who is at risk


def _cut(text: str | None, limit: int) -> str:
    body = terminal_safe((text or "").strip())
    if len(body) > limit:
        return body[:limit].rstrip() + f"\n[... {len(body) - limit:,} more characters: see the attached evidence]"
    return body


def verification(item: Evidence) -> str:
    """'dkim=pass ...; origin 203.0.113.9 (high)', or why there is none."""
    analysis = item.analysis or {}
    parts = []
    summary = (analysis.get("auth") or {}).get("summary") if isinstance(analysis.get("auth"), dict) else None
    if summary:
        parts.append(str(summary))
    origin = (analysis.get("trace") or {}).get("origin") if isinstance(analysis.get("trace"), dict) else None
    if isinstance(origin, dict) and (origin.get("ip") or origin.get("host")):
        parts.append(f"origin {origin.get('ip') or origin.get('host')} (confidence: {origin.get('confidence', 'unknown')})")
    return "; ".join(parts) or "not verifiable (no headers came with it)"


def _people(pairs: list[Any] | None) -> str:
    shown = []
    for pair in pairs or []:
        name, address = (list(pair) + ["", ""])[:2] if isinstance(pair, list) else ("", str(pair))
        shown.append(f"{name} <{address}>" if name and address else (address or name))
    return ", ".join(shown)


def _evidence_item(item: Evidence, scrub: Any) -> dict[str, Any]:
    sender = " ".join(x for x in (item.orig_from_name or "", f"<{item.orig_from_address}>"
                                  if item.orig_from_address else "") if x)
    return {
        "kind": item.kind, "completeness": item.completeness.value, "from": scrub(sender) or "unknown",
        "to": scrub(_people(item.orig_to)), "date": item.orig_date or "unknown",
        "subject": scrub(terminal_safe(item.orig_subject or "")), "verification": scrub(verification(item)),
        "text": scrub(_cut(item.body_text, MAX_EVIDENCE_CHARS)),
    }


def build_content(session: Session | None, case: Case, traces: Traces | None) -> Content:
    """The referral's body variables; `traces` None means the reporter consented (nothing scrubbed)."""
    def scrub(text: str) -> str:
        return traces.scrub(text) if traces is not None else text

    triage = case.triage or {}
    content = Content()
    if triage.get("explanation"):
        content.reasons.append("stopit's triage: " + scrub(terminal_safe(str(triage["explanation"]))))
    override = triage.get("override")
    if isinstance(override, dict):
        content.reasons.append(scrub(terminal_safe(
            f"reclassified by staff ({override.get('by', '?')}) as {override.get('urgency', '?')}, "
            f"{', '.join(override.get('categories') or [])}: {override.get('reason', '')}")))
    for report in case.reports:
        if report.sender_role == ALLEGED_SENDER:
            continue
        content.reports.append({"received_at": report.received_at.strftime("%Y-%m-%d %H:%M UTC"),
                                "subject": scrub(terminal_safe(report.subject)),
                                "words": scrub(_cut(report.wrapper_text, MAX_WORDS_CHARS)) or "(no words of their own)"})
    for item in case.evidence:
        if item.completeness.value == "file":
            content.files.append(scrub(f"{item.filename or '(unnamed)'} ({item.content_type or 'unknown type'}, "
                                       f"{item.size:,} bytes, SHA-256 {item.sha256 or 'unknown'})"))
        else:
            content.evidence.append(_evidence_item(item, scrub))
    if case.urgency == EMERGENCY and session is not None:
        facts = case_facts(session, case)
        content.facts = {"where": [scrub(x) for x in facts.where], "when": [scrub(x) for x in facts.when],
                         "who": [scrub(x) for x in facts.who]}
    return content


def office_reply_words(subject: str, body: str) -> tuple[str, str]:
    """The subject and text of an office's answer that the office wrote itself, for triage.

    An office answers our referral quoting it, and the referral now carries the report's words
    ("took pills", "kill herself") and its categories in the subject: triaging the quote would
    page the on-call chain again for an emergency already in hand. Only what precedes the
    quoted part counts (`own_words`), and a subject that is our referral's own is ignored.
    """
    ours = re.search(r"\b(?:updated\s+)?referral from stopit\b", subject, re.IGNORECASE)
    return ("" if ours else subject), own_words(body)
