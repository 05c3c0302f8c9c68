"""Messages that join an existing case instead of opening one: replies and bounces.

Where an arrival that looks like a reply belongs is decided by aliases and threading only.
`ingest.classify` reports hints (alias codes, subject tags, referenced Message-IDs); this
service resolves them. Only an alias code or a Message-ID we sent files a reply. A subject tag
alone is recorded on the tagged case as a hint for staff, and the message goes on as a new
report. An answer to our own mail that matches no alias (a helpdesk that opens a ticket per
message, an auto-responder without Auto-Submitted) is set aside: it never opens a case.

Deciding (`file_possible_reply`) only reads, so processing can do it outside its write
transaction; recording (`record_mentions`, `record_reply`, `file_bounce`) writes. Kept here, in
the service layer, so the pipeline's handlers stay thin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.aliases import ReplyTarget, is_our_message, resolve, thread_target
from stopit_mail.cases.anonymity import scrub_sealed_side, side_is_sealed
from stopit_mail.cases.service import case_of_sent_message
from stopit_mail.config import Settings
from stopit_mail.models import Case, CaseAlias, MessageKind

_EXCERPT = 2000


@dataclass(frozen=True)
class Filing:
    """What a possible reply turned out to be, and where it goes."""

    kind: MessageKind
    reason: str
    target: ReplyTarget | None = None
    # Cases whose number a new report quotes in its subject (recorded by `record_mentions`).
    mentioned: list[int] = field(default_factory=list)


def target_of(session: Session, alias_codes: list[str], referenced_ids: list[str]) -> ReplyTarget | None:
    """The alias an arrival was written to, else the alias of the message it threads on."""
    for code in alias_codes:
        target = resolve(session, code)
        if target is not None:
            return target
    return thread_target(session, referenced_ids)


def file_possible_reply(session: Session, alias_codes: list[str], subject_tags: list[str],
                        referenced_ids: list[str]) -> Filing:
    """A reply with its target, an answer to our mail set aside, or a new report (reads only)."""
    target = target_of(session, alias_codes, referenced_ids)
    if target is not None:
        return Filing(MessageKind.REPLY, "reply through a case alias or our own message", target)
    if is_our_message(session, referenced_ids):
        return Filing(MessageKind.AUTO_REPLY, "answers mail we sent but reaches no case alias: "
                                              "set aside, never a new case")
    mentioned = [case_id for case_id in (session.scalar(select(Case.id).where(Case.number == tag))
                                         for tag in subject_tags) if case_id is not None]
    return Filing(MessageKind.REPORT, "new report (reply hints matched no alias or message of ours)",
                  mentioned=mentioned)


def record_mentions(session: Session, case_ids: list[int], raw_id: int) -> None:
    """Note on each quoted case that a new message names it (filed as a new report, not there)."""
    events.record_all(session, [events.entry(
        "case-number-mentioned", case_id, raw_message_id=raw_id,
        note="a new message quotes this case number; filed as a new report, not on this case") for case_id in case_ids])


def record_reply(session: Session, settings: Settings, case: Case, alias: CaseAlias | None, raw_message_id: int,
                 *, sender: str, subject: str, text: str) -> bool:
    """Put a reply on the case timeline with its side; True when it came from a sealed side.

    A reply through an anonymous reporter's alias is recorded without their address, and its
    subject and words without their name or addresses.
    """
    sealed = side_is_sealed(session, alias)
    if sealed:
        # Only the reporter holds their alias; keep their address out of the record.
        sender = "(anonymous reporter)"
    events.record(
        session, "reply-received", case.id, raw_message_id=raw_message_id,
        side=alias.side if alias is not None else "unknown",
        report_id=alias.report_id if alias is not None else None,
        office=alias.office if alias is not None else None,
        sender=sender, subject=scrub_sealed_side(session, settings, alias, subject),
        text=scrub_sealed_side(session, settings, alias, text)[:_EXCERPT],
    )
    return sealed


def file_bounce(session: Session, ids: list[str], raw_message_id: int) -> int | None:
    """Record a bounce on the case of the message that bounced (any we sent, pages too); its case id."""
    case = case_of_sent_message(session, ids)
    events.record(session, "bounce-received", case.id if case else None,
                  raw_message_id=raw_message_id, bounced_ids=ids[:5])
    return case.id if case else None
