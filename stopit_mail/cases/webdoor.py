"""The case side of the web door: staff messages to web reporters, and a reporter's thread.

A web reporter has no mailbox we may write to (or gave one only to be told that something is
waiting), so `stopit reply` on a report that arrived by web posts the message for the
check-back page instead of mailing it, and, when the reporter left an address, queues a mail
that says only that a message is waiting. The thread a reporter sees is built here from the
raw messages they sent and the staff messages posted for their report: nothing of other
reports on the same case, nothing staff wrote to each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.acknowledgement import localised
from stopit_mail.cases.notices import organisation_of, template_dirs
from stopit_mail.cases.staff import Actor
from stopit_mail.config import Settings
from stopit_mail.extract import mime
from stopit_mail.models import Case, Event, OutboxMessage, RawMessage, Report
from stopit_mail.outbound.compose import Draft
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.outbound.render import make_environment, render
from stopit_mail.sealing import IdentityKeyError, open_bytes

WEB_SOURCE = "web"
# The From of a web report whose reporter left no address: RFC 6761 reserves .invalid, and
# "noreply" is a daemon name, so nothing is ever mailed to it.
NO_ADDRESS = "noreply@web.invalid"
STAFF_POSTED = "staff-reply-posted"


def arrived_by_web(session: Session, report: Report) -> bool:
    """Whether the report was made through the web door."""
    return session.scalar(select(RawMessage.source).where(RawMessage.id == report.raw_message_id)) == WEB_SOURCE


def contact_address(report: Report) -> str:
    """The address a web reporter chose to leave, or '' (anonymous reporters leave none)."""
    address = report.reporter_address or ""
    return "" if report.sealed_identity or address.lower() == NO_ADDRESS else address


def post_reply(session: Session, settings: Settings, actor: Actor, case: Case, report: Report,
               message: str) -> OutboxMessage | None:
    """Post a staff message for a web reporter; mail a content-free notice if they left an address."""
    posted = events.record(session, STAFF_POSTED, case.id, actor=actor.name, automatic=False,
                           report_id=report.id, text=message)
    session.flush()
    address = contact_address(report)
    if not address:
        return None
    org = organisation_of(settings, case)
    env = make_environment(template_dirs(settings, org))
    rendered = render(env, localised(env, "reporter/web-new-message.txt.j2", case.language or ""),
                      organisation=org.name, public_url=settings.web.public_url,
                      emergency_numbers=org.emergency_numbers)
    draft = Draft(from_address=org.mailboxes[0], from_name=f"{org.name} stopit", to=[address],
                  subject=rendered.subject, body=rendered.body)
    return enqueue(session, draft, "web-new-message", f"web-new-message:{posted.id}", case.id,
                   envelope_from="", actor=actor.name, report_id=report.id)


@dataclass
class ThreadEntry:
    """One message in a web reporter's thread, as the check-back page shows it."""

    at: datetime
    author: str  # "you" | "staff"
    text: str
    files: list[str] = field(default_factory=list)


def _raw_entry(settings: Settings, raw: RawMessage) -> ThreadEntry:
    # The reporter holding the receipt code reads their own words: an anonymous report's
    # messages are sealed at rest and opened here in memory (not a staff reveal).
    try:
        content = open_bytes(settings, raw.content)
    except IdentityKeyError:
        return ThreadEntry(raw.received_at, "you", "(this message is stored sealed and cannot be shown right now)")
    parsed = mime.parse_bytes(content)
    limits, defects = settings.limits, list[str]()
    text = mime.body_text(parsed.message, limits.max_nesting_depth, limits.max_parts, defects)
    files = [w.part.get_filename() or "file" for w in mime.walk(parsed.message, 4, 200, defects)
             if mime.is_attachment(w.part)]
    return ThreadEntry(raw.received_at, "you", text.strip(), files)


def reporter_thread(session: Session, settings: Settings, raw_ids: list[int], report: Report | None) -> list[ThreadEntry]:
    """The reporter's own messages (`raw_ids`) and the staff messages for their report, oldest first."""
    entries = [_raw_entry(settings, raw) for raw in session.scalars(
        select(RawMessage).where(RawMessage.id.in_(raw_ids)).order_by(RawMessage.id))]
    if report is not None:
        for event in session.scalars(select(Event).where(
                Event.case_id == report.case_id, Event.action == STAFF_POSTED)):
            if event.detail.get("report_id") == report.id:
                entries.append(ThreadEntry(event.at, "staff", str(event.detail.get("text", ""))))
    return sorted(entries, key=lambda e: _aware(e.at))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def report_for_raw(session: Session, raw_id: int) -> Report | None:
    """The report filed from a stored web report, once the worker has processed it."""
    return session.scalar(select(Report).where(Report.raw_message_id == raw_id))


def current_case(session: Session, case_id: int) -> Case | None:
    """A case, following merges to the case it now lives in."""
    case = session.get(Case, case_id)
    seen = 0
    while case is not None and case.merged_into_id is not None and seen < 20:
        case = session.get(Case, case.merged_into_id)
        seen += 1
    return case
