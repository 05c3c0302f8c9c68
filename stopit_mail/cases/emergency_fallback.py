"""Page the chain for a message pre-triaged as an emergency that could not be processed.

A poison message must never silence an emergency. When a message whose pre-triage matched an
emergency rule is quarantined (or keeps failing), a case is opened with what is known (the
subject and the first text, sanitised, from the bounded pre-triage read), the escalation chain
is paged through the usual engine (so it keeps paging until someone acknowledges), and the
organisation's mailbox is alerted that the report itself needs a person.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.codes import new_reporter_code, next_case_number
from stopit_mail.cases.escalation import start_escalation
from stopit_mail.config import Organisation, Settings
from stopit_mail.models import Case, RawMessage
from stopit_mail.outbound.compose import Draft
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.textsafe import terminal_safe

_EXCERPT = 1500


def _text(subject: str, excerpt: str, reason: str, case: Case, raw_id: int) -> str:
    return (
        f"An incoming message (stored message {raw_id}) looks like an EMERGENCY but could not be processed.\n"
        f"The escalation chain has been paged for case {case.number} with what is known.\n\n"
        f"Why it could not be processed: {terminal_safe(reason)[:500]}\n\n"
        f"Subject: {terminal_safe(subject)[:300]}\n\n"
        f"Beginning of the message:\n{terminal_safe(excerpt)[:_EXCERPT]}\n\n"
        f"Read it now: stopit quarantine show {raw_id}\n"
    )


def page_unprocessed_emergency(session: Session, settings: Settings, org: Organisation, raw_id: int,
                               subject: str, excerpt: str, reason: str, now: datetime) -> Case:
    """Open (once per message) an emergency case for a stored message, page and alert the mailbox."""
    known = session.scalar(select(RawMessage.case_id).where(RawMessage.id == raw_id))
    if known is not None:
        case = session.get(Case, known)
        assert case is not None
        return case
    title = f"UNPROCESSED EMERGENCY: {' '.join(subject.split())}"[:200]
    explanation = f"emergency: pre-triage at intake; the message could not be processed ({reason[:300]})"
    case = Case(number=next_case_number(session, org.case_prefix, now.year), reporter_code=new_reporter_code(),
                sender_code=new_reporter_code(), organisation=org.slug, title=title, urgency="emergency",
                categories=["other"], triage={"explanation": explanation, "pretriage": True})
    session.add(case)
    session.flush()
    events.record(session, "emergency-unprocessed", case.id, raw_message_id=raw_id, reason=reason[:1000])
    start_escalation(session, settings, case, now)
    mailbox = org.mailboxes[0]
    body = _text(subject, excerpt, reason, case, raw_id)
    draft = Draft(from_address=mailbox, from_name=f"{org.name} stopit", to=list(org.mailboxes),
                  subject=f"[{case.number}] UNPROCESSED EMERGENCY - read it now", body=body,
                  extra_headers={"Importance": "high", "X-Priority": "1 (Highest)"})
    enqueue(session, draft, "emergency-fallback", f"emergency-fallback:{raw_id}", case.id, envelope_from="")
    return case

