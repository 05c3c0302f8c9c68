"""Decide where an arrival that looks like a reply belongs, by aliases and threading only.

`ingest.classify` reports hints (alias codes, subject tags, referenced Message-IDs); this
service resolves them. Only an alias code or a Message-ID we sent files a reply. A subject tag
alone is recorded on the tagged case as a hint for staff, and the message goes on as a new
report. An answer to our own mail that matches no alias (a helpdesk that opens a ticket per
message, an auto-responder without Auto-Submitted) is set aside: it never opens a case.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.aliases import ReplyTarget, is_our_message, resolve, thread_target
from stopit_mail.models import Case, MessageKind


@dataclass(frozen=True)
class Filing:
    """What a possible reply turned out to be, and where it goes."""

    kind: MessageKind
    reason: str
    target: ReplyTarget | None = None


def target_of(session: Session, alias_codes: list[str], referenced_ids: list[str]) -> ReplyTarget | None:
    """The alias an arrival was written to, else the alias of the message it threads on."""
    for code in alias_codes:
        target = resolve(session, code)
        if target is not None:
            return target
    return thread_target(session, referenced_ids)


def file_possible_reply(session: Session, alias_codes: list[str], subject_tags: list[str],
                        referenced_ids: list[str], raw_id: int) -> Filing:
    """A reply with its target, an answer to our mail set aside, or a new report."""
    target = target_of(session, alias_codes, referenced_ids)
    if target is not None:
        return Filing(MessageKind.REPLY, "reply through a case alias or our own message", target)
    if is_our_message(session, referenced_ids):
        return Filing(MessageKind.AUTO_REPLY, "answers mail we sent but reaches no case alias: "
                                              "set aside, never a new case")
    for tag in subject_tags:
        case_id = session.scalar(select(Case.id).where(Case.number == tag))
        if case_id is not None:
            events.record(session, "case-number-mentioned", case_id, raw_message_id=raw_id,
                          note="a new message quotes this case number; filed as a new report, not on this case")
    return Filing(MessageKind.REPORT, "new report (reply hints matched no alias or message of ours)")
