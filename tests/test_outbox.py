"""The outbox delivers through a real SMTP relay on 127.0.0.1, retries temporary failures with
exponential backoff, gives up on permanent ones and tells the case; Maildir delivery is idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.models import Event, OutboxMessage, OutboxStatus
from stopit_mail.outbound.delivery import MaildirTransport, RelayTransport
from stopit_mail.outbound.outbox import backoff
from stopit_mail.outbound.sender import deliver_due

from casework_helpers import ingest, report
from smtp_helpers import capture_server


class ScriptedRelay:
    """A relay that answers DATA from a script of replies (then 250 forever)."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.accepted: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        reply = self.replies.pop(0) if self.replies else "250 2.0.0 OK"
        if reply.startswith("250"):
            self.accepted.append(envelope.original_content or b"")
        return reply


def _ack(app: App) -> OutboxMessage:
    with app.factory() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "acknowledgement")).one()
        _ = row.content  # load the deferred bytes while the session is open
        return row


def test_temporary_failures_back_off_then_deliver(app: App) -> None:
    ingest(app, report())
    relay = ScriptedRelay(["451 4.3.0 try later", "451 4.3.0 try later"])
    with capture_server(relay) as port:  # type: ignore[arg-type]
        transport = RelayTransport("127.0.0.1", port, starttls=False)
        start = datetime.now(UTC)
        assert deliver_due(app.factory, app.settings, transport, now=start) == {"queued": 1}
        row = _ack(app)
        assert row.attempts == 1 and "451" in (row.last_error or "")
        first_retry = row.next_attempt_at.replace(tzinfo=UTC)
        assert first_retry - start == backoff(1, app.settings.outbound.retry_base_seconds) == timedelta(seconds=60)
        assert deliver_due(app.factory, app.settings, transport, now=start + timedelta(seconds=30)) == {}
        second = start + timedelta(seconds=61)
        assert deliver_due(app.factory, app.settings, transport, now=second) == {"queued": 1}
        assert _ack(app).next_attempt_at.replace(tzinfo=UTC) - second == timedelta(seconds=120)
        assert deliver_due(app.factory, app.settings, transport, now=second + timedelta(seconds=121)) == {"sent": 1}
    row = _ack(app)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 3, None)
    assert len(relay.accepted) == 1 and b"We received your report" in relay.accepted[0]


def test_permanent_failure_is_recorded_on_the_case(app: App) -> None:
    ingest(app, report())
    relay = ScriptedRelay(["550 5.1.1 no such user"])
    with capture_server(relay) as port:  # type: ignore[arg-type]
        transport = RelayTransport("127.0.0.1", port, starttls=False)
        assert deliver_due(app.factory, app.settings, transport) == {"failed": 1}
    row = _ack(app)
    assert row.status is OutboxStatus.FAILED and "550" in (row.last_error or "")
    with app.factory() as session:
        event = session.scalars(select(Event).where(Event.action == "acknowledgement-failed")).one()
        assert event.case_id == row.case_id and "550" in event.detail["error"]


def test_maildir_redelivery_after_a_crash_writes_the_same_file(app: App, tmp_path) -> None:  # type: ignore[no-untyped-def]
    transport = MaildirTransport(tmp_path / "outbox")
    for _ in range(2):  # a crash between writing and recording "sent" means a second attempt
        transport.deliver(7, "", ["a@example.org"], b"Subject: x\r\n\r\nhello\r\n")
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 1


def test_acknowledgements_are_rate_limited_per_sender(app: App) -> None:
    app.settings.outbound.acks_per_sender_per_hour = 2
    for number in range(4):
        ingest(app, report(reporter="flood@example.org", wrapper=f"report number {number}",
                           original=f"From: x{number}@example.net\r\nSubject: s{number}\r\n\r\nbody {number} "
                                    f"with enough distinct words to be its own case\r\n".encode()))
    with app.factory() as session:
        acks = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "acknowledgement")).all()
        skipped = session.scalars(select(Event).where(Event.action == "acknowledgement-skipped")).all()
    assert len(acks) == 2 and len(skipped) == 2
    assert skipped[0].detail["reason"] == "rate limit: 2 acknowledgements to this address in the last hour"


def test_a_delivery_interrupted_by_a_crash_is_retried_within_a_minute(app: App) -> None:
    from stopit_mail.outbound.sender import LEASE, _claim

    ingest(app, report())
    now = datetime.now(UTC)
    row_id = _ack(app).id
    assert _claim(app.factory, app.settings, row_id, now) is not None  # claimed, then the worker dies
    assert deliver_due(app.factory, app.settings, MaildirTransport(app.settings.data_path / "outbox"),
                       now=now + timedelta(seconds=5)) == {}
    assert LEASE <= timedelta(minutes=1)
    assert deliver_due(app.factory, app.settings, MaildirTransport(app.settings.data_path / "outbox"),
                       now=now + LEASE + timedelta(seconds=1)) == {"sent": 1}
