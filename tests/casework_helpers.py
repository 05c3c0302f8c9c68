"""Helpers for casework tests: build reports in code and ingest them through the real pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formataddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail.app import App
from stopit_mail.ingest.rawstore import Envelope
from stopit_mail.ingest.service import IngestSummary, ingest_one
from stopit_mail.models import Case


def offending_message(sender: str = "offender@example.net", body: str = "Nobody likes you. Leave school.",
                      to: str = "victim@example.edu", subject: str = "hey",
                      date: str = "Mon, 16 Nov 2026 04:41:03 +0000", message_id: str = "<off-1@example.net>") -> bytes:
    return (f"From: Some One <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n"
            f"Message-ID: {message_id}\r\n\r\n{body}\r\n").encode()


ZOE = "zoë.ward@exämple.org"  # non-ASCII local part and IDN domain
ZOE_SCHOOL = "z.ward@school.example.edu"  # the address the evidence was sent to
ZOE_NAME = "Zoë Ward"


def zoe_anonymous_report() -> bytes:
    """An anonymous report by Zoë, whose evidence went to her school address (SMTPUTF8 bytes)."""
    msg = EmailMessage()
    msg["From"] = f"{ZOE_NAME} <{ZOE}>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "Anonymous: he writes to my school address"
    msg.set_content(f"Please keep me anonymous. Zoë\n\n-- \n{ZOE_NAME}\n")
    original = offending_message(to=f"Zoe Ward <{ZOE_SCHOOL}>",
                                 body=f"Hey Zoë Ward, everyone knows about you, {ZOE_SCHOOL}.")
    msg.add_attachment(original, maintype="message", subtype="rfc822")
    return msg.as_bytes(policy=msg.policy.clone(utf8=True))


def report(reporter: str = "victim@example.edu", name: str = "Vic Tim", wrapper: str = "Please help me with this.",
           subject: str = "Fwd: hey", original: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = formataddr((name, reporter))
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = subject
    msg.set_content(wrapper)
    msg.add_attachment(original if original is not None else offending_message(to=reporter),
                       maintype="message", subtype="rfc822")
    return msg.as_bytes()


def ingest(app: App, content: bytes, rcpt: str = "stopit@example.edu", mail_from: str | None = None) -> IngestSummary:
    summary = IngestSummary()
    ingest_one(app, content, Envelope("smtp", mail_from=mail_from, rcpt_to=[rcpt]), summary)
    return summary


def latest_case(app: App) -> Case:
    with app.factory() as session:
        case = session.scalars(select(Case).order_by(Case.id.desc())).first()
        assert case is not None
        for relation in (case.reports, case.evidence, case.parties):
            list(relation)
        return case


@contextmanager
def open_case(app: App, number: str | None = None) -> Iterator[tuple[Session, Case]]:
    """The newest case (or `number`) inside a live session, committed at the end."""
    with app.factory() as session, session.begin():
        query = select(Case).order_by(Case.id.desc()) if number is None else select(Case).where(Case.number == number)
        case = session.scalars(query).first()
        assert case is not None
        yield session, case


def bare_case(app: App) -> int:
    """The id of a new, empty case (for tests of what is written about a case)."""
    with app.factory() as session, session.begin():
        case = Case(number="SI-2026-0001", reporter_code="C1", organisation="default", title="t",
                    opened_at=datetime.now(UTC), updated_at=datetime.now(UTC))
        session.add(case)
        session.flush()
        return case.id
