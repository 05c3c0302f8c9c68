"""Messages that join an existing case instead of opening one: replies and bounces.

Replies join their case's timeline with the side that wrote (reporter or alleged sender, by
the alias they wrote to). Bounces are attached to the case of the message that bounced when it
can be found. Kept here, in the service layer, so the pipeline's handlers stay thin.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.codes import normalise_code
from stopit_mail.cases.service import find_case_for_reply
from stopit_mail.models import Case

_EXCERPT = 2000


def reply_side(case: Case, alias_codes: list[str]) -> str:
    """Who wrote: the reporter (reporter alias), the alleged sender (notice alias), or unknown."""
    codes = {normalise_code(c) for c in alias_codes}
    if case.reporter_code in codes:
        return "reporter"
    if case.sender_code and case.sender_code in codes:
        return "alleged-sender"
    return "unknown"


def record_reply(session: Session, case: Case, alias_codes: list[str], raw_message_id: int, *,
                 sender: str, subject: str, text: str) -> bool:
    """Put a reply on the case timeline; True when the sender's address must be sealed."""
    side = reply_side(case, alias_codes)
    sealed = side == "reporter" and case.anonymous
    if sealed:
        # Only the reporter holds the reporter alias; keep their address out of the record.
        sender = "(anonymous reporter)"
    events.record(session, "reply-received", case.id, raw_message_id=raw_message_id, side=side,
                  sender=sender, subject=subject, text=text[:_EXCERPT])
    return sealed


def file_bounce(session: Session, ids: list[str], raw_message_id: int) -> int | None:
    """Record a bounce on the case of the message that bounced; returns that case's id."""
    case = find_case_for_reply(session, [], [], ids)
    events.record(session, "bounce-received", case.id if case else None,
                  raw_message_id=raw_message_id, bounced_ids=ids[:5])
    return case.id if case else None
