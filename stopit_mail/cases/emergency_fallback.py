"""Page the chain for a message pre-triaged as an emergency that could not be processed.

A poison message must never silence an emergency, nor must a lost identity key. When a message
whose pre-triage matched an emergency rule is quarantined (or keeps failing), a case is opened
with what is known, the escalation chain is paged through the usual engine (so it keeps paging
until someone acknowledges), and the organisation's mailbox is alerted that the report itself
needs a person.

What is known is always the page facts stored at the 250 (`page_facts`: the rules that fired,
where, when and who is at risk; never who reported), because every message is sealed there and
its bytes may not open. The subject and first words (sanitised, from the bounded pre-triage
read) are added only when the message could be opened and did not ask for anonymity: the words
of an anonymous report can identify its reporter, and the mailbox alert leaves the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.codes import new_reporter_code, next_case_number
from stopit_mail.cases.escalation import start_escalation
from stopit_mail.cases.page_facts import KINDS, as_facts, as_matches
from stopit_mail.config import Organisation, Settings
from stopit_mail.models import Case, RawMessage
from stopit_mail.outbound.compose import Draft
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.textsafe import terminal_safe

_EXCERPT = 1500


@dataclass(frozen=True)
class KnownHead:
    """What is known of a message that could not be processed.

    `anonymous` is True when it asked for anonymity, or when it could not be opened to tell;
    then `subject` and `excerpt` are never used.
    """

    facts: dict[str, Any] = field(default_factory=dict)
    subject: str = ""
    excerpt: str = ""
    anonymous: bool = True


def _reasons(facts: dict[str, Any]) -> list[str]:
    lines = []
    for match in as_matches(facts):
        where = " in subject" if match.get("field") == "subject" else ""
        lines.append(f'rule "{match.get("rule", "?")}" ({match.get("category", "?")}, {match.get("urgency", "?")}){where}')
    return lines or ["(the pre-triage recorded no rule)"]


def _facts_text(facts: dict[str, Any]) -> str:
    known = as_facts(facts)
    lines = [f"Triage:      {terminal_safe(line)}" for line in _reasons(facts)]
    for label, kind in zip(("Where:      ", "When:       ", "Who at risk:"), KINDS, strict=True):
        phrases = getattr(known, kind)
        lines.append(f"{label} {terminal_safe('; '.join(phrases)) if phrases else '(the report does not say)'}")
    return "\n".join(lines)


def _text(head: KnownHead, reason: str, case: Case, raw_id: int) -> str:
    intro = (f"An incoming message (stored message {raw_id}) looks like an EMERGENCY but could not be processed.\n"
             f"The escalation chain has been paged for case {case.number} with what is known.\n\n")
    if head.anonymous:
        return (intro + "The report asked for anonymity, or could not be opened to tell: neither its subject\n"
                "nor its words are in this mail. What the intake recorded:\n\n"
                f"{_facts_text(head.facts)}\n\n"
                f"Read it now: stopit quarantine show {raw_id} (why it failed is there too)\n")
    return (intro + f"Why it could not be processed: {terminal_safe(reason)[:500]}\n\n"
            f"{_facts_text(head.facts)}\n\n"
            f"Subject: {terminal_safe(head.subject)[:300]}\n\n"
            f"Beginning of the message:\n{terminal_safe(head.excerpt)[:_EXCERPT]}\n\n"
            f"Read it now: stopit quarantine show {raw_id}\n")


def page_unprocessed_emergency(session: Session, settings: Settings, org: Organisation, raw_id: int,
                               head: KnownHead, reason: str, now: datetime) -> Case:
    """Open (once per message) an emergency case for a stored message, page and alert the mailbox."""
    known = session.scalar(select(RawMessage.case_id).where(RawMessage.id == raw_id))
    if known is not None:
        case = session.get(Case, known)
        assert case is not None
        return case
    subject = "(anonymous report)" if head.anonymous else " ".join(head.subject.split())
    title = f"UNPROCESSED EMERGENCY: {subject}"[:200]
    explanation = f"emergency: pre-triage at intake; the message could not be processed ({reason[:300]})"
    facts = as_facts(head.facts)
    case = Case(number=next_case_number(session, org.case_prefix, now.year), reporter_code=new_reporter_code(),
                sender_code=new_reporter_code(), organisation=org.slug, title=title, urgency="emergency",
                anonymous=head.anonymous, categories=list(head.facts.get("categories") or ["other"]),
                # The page reads its reasons and its where/when/who from here (`escalation_pages`).
                triage={"explanation": explanation, "pretriage": True, "matches": as_matches(head.facts),
                        "facts": {kind: getattr(facts, kind) for kind in KINDS}})
    session.add(case)
    session.flush()
    events.record(session, "emergency-unprocessed", case.id, raw_message_id=raw_id, reason=reason[:1000])
    start_escalation(session, settings, case, now)
    mailbox = org.mailboxes[0]
    draft = Draft(from_address=mailbox, from_name=f"{org.name} stopit", to=list(org.mailboxes),
                  subject=f"[{case.number}] UNPROCESSED EMERGENCY - read it now",
                  body=_text(head, reason, case, raw_id),
                  extra_headers={"Importance": "high", "X-Priority": "1 (Highest)"})
    enqueue(session, draft, "emergency-fallback", f"emergency-fallback:{raw_id}", case.id, envelope_from="")
    return case
