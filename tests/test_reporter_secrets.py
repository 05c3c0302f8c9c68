"""Per-reporter secrets, end to end on the real listener with a real relay on 127.0.0.1.

Issue 10, items 1, 6, 7 and 9: an offender who forwards his own mail learns nothing and cannot
write as the reporter; a case number in a subject grants nothing; an office's answer is filed as
the office's; a helpdesk answering from a new address per ticket cannot loop with us.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import parseaddr

from sqlalchemy import func, select

from stopit_mail.app import App
from stopit_mail.cases.messaging import reply_to_reporter
from stopit_mail.cases.notices import send_notice
from stopit_mail.cases.referrals import refer
from stopit_mail.cases.staff import Actor
from stopit_mail.config import Office
from stopit_mail.models import Case, CaseAlias, Event, OutboxMessage, RawMessage, RawStatus, Report
from stopit_mail.server import MailServer

from casework_helpers import offending_message, open_case
from factories import cli
from smtp_helpers import CaptureHandler, capture_server, running_server, wait_until

VICTIM, OFFENDER = "vic.tim@example.edu", "offender@example.net"
STAFF = Actor("Pat", restricted=False)


def _report(sender: str, name: str, subject: str = "Fwd: hey", wrapper: str = "Please help.") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = subject
    msg.set_content(wrapper)
    msg.add_attachment(offending_message(sender=OFFENDER, to=VICTIM, body="Nobody likes you. Leave school now."),
                       maintype="message", subtype="rfc822")
    return msg.as_bytes()


def _send(server: MailServer, sender: str, rcpt: str, content: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail(sender, [rcpt], content)


@contextmanager
def _mailbox(app: App) -> Iterator[tuple[MailServer, CaptureHandler]]:
    handler = CaptureHandler()
    with capture_server(handler) as relay_port:
        app.settings.outbound.relay = f"127.0.0.1:{relay_port}"
        app.settings.outbound.starttls = False
        with running_server(app, run_worker=True, worker_idle_seconds=0.2) as server:
            yield server, handler


def _delivered_to(handler: CaptureHandler, address: str) -> list[bytes]:
    with handler.lock:
        return [content for _f, rcpts, content in handler.messages if address in rcpts]


def _codes(app: App, side: str) -> list[str]:
    with app.factory() as session:
        return list(session.scalars(select(CaseAlias.code).where(CaseAlias.side == side).order_by(CaseAlias.id)))


def test_offender_forwarding_his_own_mail_learns_no_code_and_cannot_write_as_the_reporter(app: App) -> None:
    with _mailbox(app) as (server, handler):
        _send(server, VICTIM, "stopit@example.edu", _report(VICTIM, "Vic Tim"))
        assert wait_until(lambda: len(_delivered_to(handler, VICTIM)) == 1, 20)
        _send(server, OFFENDER, "stopit@example.edu", _report(OFFENDER, "Some One", wrapper="lol report me"))
        assert wait_until(lambda: len(_codes(app, "alleged-sender")) >= 2, 20)
        time.sleep(1.0)  # the worker has had every chance to acknowledge him
        victim_code = _codes(app, "reporter")[0]
        assert victim_code.encode() in _delivered_to(handler, VICTIM)[0]
        # Nothing he receives carries the victim's code, and he is no reporter of the case.
        assert all(victim_code.encode() not in m for m in _delivered_to(handler, OFFENDER))
        with app.factory() as session:
            roles = sorted(session.scalars(select(Report.sender_role)))
            assert roles == ["alleged-sender", "reporter"]
            assert session.scalar(select(func.count(Case.id))) == 1
            assert session.scalars(select(Event.action).where(Event.action == "alleged-sender-report")).all()
        # He guesses the case number in the subject and writes to the plain mailbox: a new report, not a reply.
        with app.factory() as session:
            number = session.scalars(select(Case.number)).one()
        forged = EmailMessage()
        forged["From"] = "Dean of Students <dean@example.edu>"
        forged["To"] = "stopit@example.edu"
        forged["Subject"] = f"Re: [{number}] We received your report"
        forged.set_content("I withdraw my report, please close it. I want to kill myself.")
        _send(server, OFFENDER, "stopit@example.edu", forged.as_bytes())
        assert wait_until(lambda: _count(app, Case) == 2, 20), "a subject tag must never file into a case"
    with open_case(app, number) as (session, case):
        actions = [e.action for e in session.scalars(select(Event).where(Event.case_id == case.id))]
        assert "reply-received" not in actions and "case-number-mentioned" in actions
        # Notices to him are not refused as "a reporter of this case".
        send_notice(session, app.settings, STAFF, case, "please-stop")
    # Staff's question goes to the victim, never to him.
    cli(app.settings.base_dir / "stopit.toml", "--as", "Pat", "reply", number, "-m", "Are you safe?")
    with app.factory() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "staff-reply")).one()
        assert row.recipients == [VICTIM]


def test_a_staff_reply_never_goes_to_an_alleged_sender_who_filed_first(app: App) -> None:
    with _mailbox(app) as (server, _handler):
        _send(server, OFFENDER, "stopit@example.edu", _report(OFFENDER, "Some One"))
        assert wait_until(lambda: _count(app, Report) == 1 and _processed(app), 20)
        _send(server, VICTIM, "stopit@example.edu", _report(VICTIM, "Vic Tim"))
        assert wait_until(lambda: _count(app, Report) == 2 and _processed(app), 20)
    with open_case(app) as (session, case):
        row = reply_to_reporter(session, app.settings, STAFF, case, "Are you safe?")
        assert row.recipients == [VICTIM]


def test_an_offices_answer_is_filed_as_the_offices(app: App) -> None:
    app.settings.organisations[0].offices = [Office(name="title-ix", title="Title IX", addresses=["titleix@example.edu"],
                                                    categories=["harassment"])]
    with _mailbox(app) as (server, handler):
        _send(server, VICTIM, "stopit@example.edu", _report(VICTIM, "Vic Tim"))
        assert wait_until(lambda: len(_delivered_to(handler, VICTIM)) == 1, 20)
        with open_case(app) as (session, case):
            notice = send_notice(session, app.settings, STAFF, case, "please-stop")
            referral = refer(session, app.settings, STAFF, case, "title-ix")
            number = case.number
        assert server.worker is not None
        server.worker.wake()
        assert wait_until(lambda: len(_delivered_to(handler, "titleix@example.edu")) == 1, 20)
        office_alias = parseaddr(_header(_delivered_to(handler, "titleix@example.edu")[0], b"Reply-To"))[1]
        assert office_alias != parseaddr(notice.content.split(b"Reply-To: ")[1].split(b"\r\n")[0].decode())[1]
        answer = EmailMessage()
        answer["From"] = "titleix@example.edu"
        answer["To"] = office_alias
        answer["Subject"] = "Re: referral"
        answer["In-Reply-To"] = referral.message_id
        answer.set_content("We have opened a file.")
        _send(server, "titleix@example.edu", office_alias, answer.as_bytes())
        assert wait_until(lambda: _replies(app, number) != [], 20)
    (reply,) = _replies(app, number)
    assert (reply["side"], reply["office"]) == ("office", "title-ix")


def test_a_helpdesk_answering_from_a_new_address_per_ticket_cannot_loop(app: App) -> None:
    tickets = iter(range(1, 10_000))
    listener: list[int] = []

    def helpdesk(envelope) -> None:  # type: ignore[no-untyped-def]
        # A ticket system: every message it receives opens a ticket, answered from a new address,
        # to the mailbox it knows (not the alias), and without In-Reply-To (an answer that threads
        # on our Message-ID is filed as a reply and ends the exchange at once: test_loop.py), so
        # only the per-domain acknowledgement limit can stop it.
        n = next(tickets)
        answer = EmailMessage()
        answer["From"] = f"ticket-{n}@helpdesk.example"
        answer["To"] = "stopit@example.edu"
        answer["Subject"] = f"[Ticket #{n}] New ticket created"
        answer.set_content(f"Your request was received as ticket {n}. A harassment report about: {n * 7919}")
        with smtplib.SMTP("127.0.0.1", listener[0], timeout=10) as client:
            client.sendmail(f"ticket-{n}@helpdesk.example", ["stopit@example.edu"], answer.as_bytes())

    handler = CaptureHandler(reply=helpdesk)
    with capture_server(handler) as relay_port:
        app.settings.outbound.relay = f"127.0.0.1:{relay_port}"
        app.settings.outbound.starttls = False
        app.settings.outbound.acks_per_domain_per_hour = 3
        with running_server(app, run_worker=True, worker_idle_seconds=0.1) as server:
            listener.append(server.port)
            first = _report("it@helpdesk.example", "Helpdesk")
            _send(server, "it@helpdesk.example", "stopit@example.edu", first)
            time.sleep(12)
            cases = _count(app, Case)
    # Today this runs away (one case and one acknowledgement per ticket); the domain limit and
    # threading on our own Message-ID stop it after a handful.
    assert cases <= 4, cases
    with app.factory() as session:
        acks = session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "acknowledgement"))
    assert acks <= 3


def _header(content: bytes, name: bytes) -> str:
    for line in content.split(b"\r\n"):
        if line.lower().startswith(name.lower() + b":"):
            return line.split(b":", 1)[1].strip().decode()
    return ""


def _count(app: App, model: type) -> int:
    with app.factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _processed(app: App) -> bool:
    with app.factory() as session:
        return not session.scalars(select(RawMessage.id).where(RawMessage.status == RawStatus.RECEIVED)).all()


def _replies(app: App, number: str) -> list[dict]:  # type: ignore[type-arg]
    with app.factory() as session:
        case_id = session.scalar(select(Case.id).where(Case.number == number))
        return [e.detail for e in session.scalars(select(Event).where(
            Event.case_id == case_id, Event.action == "reply-received"))]
