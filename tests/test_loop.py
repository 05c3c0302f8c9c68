"""No mail loop with an autoresponder, however badly it behaves.

Our outbound relay points at a small SMTP server on 127.0.0.1 that answers every message it
receives by mailing a reply back to our listener. Two of its users take part at once:
one naive (no Auto-Submitted header, "Re: <subject>" to the From address, no In-Reply-To:
the classic vacation-responder bug) and one well-behaved (Auto-Submitted: auto-replied,
In-Reply-To). Each reports once, and then the two sides exchange mail until the exchange is
over (both reports and both answers processed, both acknowledgements delivered and answered) and
ten more seconds pass without anything new: ten idle turns of the worker, each of which would
deliver any further message at once. The exchange must stop after at most one message each way.
STOPIT_LOOP_SECONDS=60 watches for that fixed time instead (what this test did before).
"""

from __future__ import annotations

import email
import os
import smtplib
import time
from email.message import EmailMessage
from email.utils import make_msgid

from aiosmtpd.smtp import Envelope
from sqlalchemy import func, select

from stopit_mail.app import App
from stopit_mail.models import Case, MessageKind, OutboxMessage, OutboxStatus, RawMessage, RawStatus

from smtp_helpers import CaptureHandler, capture_server, report_message, running_server

# Unset: watch until the exchange is over and quiet for SETTLE seconds (at most LIMIT).
# STOPIT_LOOP_SECONDS: watch for exactly that long, whatever happens (the deep profile: 60).
FIXED = float(os.environ.get("STOPIT_LOOP_SECONDS", "0"))
SETTLE, LIMIT = 10.0, 60.0
NAIVE, POLITE = "naive.user@naive.example", "polite.user@polite.example"


class Autoresponder:
    """Replies to everything it receives, sending the reply to our listener."""

    def __init__(self) -> None:
        self.listener_port = 0
        self.handler = CaptureHandler(reply=self.reply)
        self.sent = 0

    def reply(self, envelope: Envelope) -> None:
        original = email.message_from_bytes(envelope.original_content or b"")
        for user in envelope.rcpt_tos:
            answer = EmailMessage()
            answer["From"] = user
            answer["To"] = str(original["From"])
            answer["Subject"] = f"Re: {original['Subject']}"
            answer["Message-ID"] = make_msgid(domain=user.partition("@")[2])
            if user == POLITE:
                answer["Auto-Submitted"] = "auto-replied"
                answer["In-Reply-To"] = str(original["Message-ID"])
            answer.set_content("I am away until Monday and will read your message then.\n")
            with smtplib.SMTP("127.0.0.1", self.listener_port, timeout=10) as client:
                client.send_message(answer, from_addr=user, to_addrs=[email.utils.parseaddr(answer["To"])[1]])
            self.sent += 1


def stored(app: App) -> list[tuple[str | None, str, str]]:
    """(envelope sender, kind, status) of every stored message."""
    with app.factory() as session:
        return [(r.mail_from, r.kind.value, r.status.value) for r in session.scalars(
            select(RawMessage).order_by(RawMessage.id))]


def exchange_over(app: App, responder: Autoresponder, rows: list[tuple[str | None, str, str]]) -> bool:
    """Both reports and both answers stored and processed, nothing left to deliver, both answered."""
    with app.factory() as session:
        queued = session.scalar(select(func.count()).select_from(OutboxMessage)
                                .where(OutboxMessage.status == OutboxStatus.QUEUED))
    return (len(rows) == 4 and all(status == RawStatus.PROCESSED.value for _, _, status in rows)
            and queued == 0 and len(responder.handler.messages) == 2 and responder.sent == 2)


def test_autoresponders_cannot_start_a_loop(app: App) -> None:
    responder = Autoresponder()
    with capture_server(responder.handler) as responder_port:
        app.settings.outbound.relay = f"127.0.0.1:{responder_port}"
        app.settings.outbound.starttls = False
        with running_server(app, run_worker=True) as server:
            responder.listener_port = server.port
            with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
                for number, user in ((1, NAIVE), (2, POLITE)):
                    client.sendmail(user, ["stopit@example.edu"], report_message(number, sender=user))
            began = time.monotonic()
            quiet_since: float | None = None
            while True:
                # Fail fast: more than one message each way per user means a loop started.
                assert len(responder.handler.messages) <= 2
                rows = stored(app)
                assert len(rows) <= 4
                now = time.monotonic()
                if FIXED:
                    if now - began >= FIXED:
                        break
                elif exchange_over(app, responder, rows):
                    quiet_since = quiet_since or now
                    if now - quiet_since >= SETTLE:
                        break
                else:
                    quiet_since = None
                    assert now - began < LIMIT, f"the exchange was not over after {LIMIT:.0f} s: {rows}"
                time.sleep(0.5)

    received_by_responder = responder.handler.parsed()
    # We acknowledged each report exactly once...
    assert sorted(email.utils.parseaddr(m["To"])[1] for m in received_by_responder) == [NAIVE, POLITE]
    assert all(m["Auto-Submitted"] == "auto-replied" for m in received_by_responder)
    # ...each autoresponder answered once, and we answered none of the answers.
    assert responder.sent == 2
    rows = stored(app)
    assert {status for _, _, status in rows} == {RawStatus.PROCESSED.value}
    # The naive answer is filed on its case as a reply; the polite one is set aside as automatic.
    assert sorted((sender, kind) for sender, kind, _ in rows) == sorted([
        (NAIVE, MessageKind.REPORT.value), (POLITE, MessageKind.REPORT.value),
        (NAIVE, MessageKind.REPLY.value), (POLITE, MessageKind.AUTO_REPLY.value)])
    with app.factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
        assert session.scalar(select(func.count()).select_from(Case)) == 2
