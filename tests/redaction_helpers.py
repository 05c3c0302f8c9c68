"""Helpers for red-team redaction tests: a harasser's message naming the reporter, sent to an
office in a referral through the real pipeline, and the texts the office receives."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.cases.referrals import prepare_referral
from stopit_mail.config import Office
from stopit_mail.models import Case
from stopit_mail.outbound.compose import Attachment, Draft, compose
from stopit_mail.outbound.redact import Traces, find_leaks

from casework_helpers import ingest, report

KIM = "kim.park@example.edu"


def evidence(plain: str, markup: str | None = None, files: tuple[tuple[str, str, bytes], ...] = ()) -> bytes:
    """A harasser's message to a class list, as text and optionally HTML, with files (name, type, bytes)."""
    msg = EmailMessage()
    msg["From"] = "Some One <offender@example.net>"
    msg["To"] = "class-11b@example.org"
    msg["Subject"] = "you"
    msg["Date"] = "Mon, 16 Nov 2026 04:41:03 +0000"
    msg.set_content(plain)
    if markup is not None:
        msg.add_alternative(markup, subtype="html")
    for name, content_type, content in files:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def referral_of(app: App, original: bytes) -> bytes:
    """Kim Park reports `original`; the referral to the Title IX office, as it leaves."""
    app.settings.organisations[0].offices = [Office(name="title-ix", title="Title IX Office",
                                                    addresses=["titleix@example.edu"], categories=["harassment"])]
    ingest(app, report(reporter=KIM, name="Kim Park", wrapper="He sent this to the class.", original=original))
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        return compose(prepare_referral(app.settings, case, "title-ix").draft, "<t@stopit>")


def attached_texts(out: bytes, content_type: str | None = None) -> list[str]:
    """The text parts (or those of one type) of the messages attached to a referral."""
    message = BytesParser(policy=policy.default).parsebytes(out)
    attached = [BytesParser(policy=policy.default).parsebytes(a.get_payload(decode=True))  # type: ignore[arg-type]
                for a in message.walk() if (a.get_filename() or "").endswith(".eml")]
    return [p.get_content() for m in attached for p in m.walk()  # type: ignore[attr-defined]
            if p.get_content_maintype() == "text" and content_type in (None, p.get_content_type())]


def guard_finds(name: str, content_type: str, content: bytes) -> list[str]:
    """Where the leak guard finds Kim Park in a referral attaching this file."""
    traces = Traces()
    traces.add_name("Kim Park")
    traces.add_address(KIM)
    draft = Draft(from_address="stopit@example.edu", to=["titleix@example.edu"], subject="Referral",
                  body="See the attached evidence.\n", attachments=[Attachment(name, content_type, content)])
    return find_leaks(compose(draft, "<x@example.edu>"), traces)
