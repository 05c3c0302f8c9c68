"""Deliver due outbox messages, one transaction per message.

Each row is claimed with a short lease (FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on
SQLite, so several workers never send the same row), handed to the transport outside any
transaction, and its outcome recorded in a second short transaction.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.config import Settings
from stopit_mail.db import claim_writer
from stopit_mail.models import OutboxMessage, OutboxStatus
from stopit_mail.outbound import outbox
from stopit_mail.outbound.delivery import DeliveryError, Transport, transport_for
from stopit_mail.outbound.redact.errors import redact_error
from stopit_mail.sealing import SEALED_PREFIX, IdentityKeyError, open_bytes, open_recipient

log = logging.getLogger(__name__)

# How long a claimed row is left alone by other workers: longer than one relay attempt can take
# (RelayTransport times out after 30 s), and short, because after a crash mid-delivery the
# message waits out the lease before it is retried.
LEASE = timedelta(seconds=60)


def _claim(factory: sessionmaker[Session], settings: Settings, outbox_id: int,
           now: datetime) -> tuple[str, list[str], bytes, list[str]] | None:
    """Lease a due row for LEASE (other workers skip it); None if it is not ours to send."""
    with factory() as session, session.begin():
        claim_writer(session)
        query = select(OutboxMessage).where(OutboxMessage.id == outbox_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = session.scalar(query)
        if row is None or row.status is not OutboxStatus.QUEUED or _aware(row.next_attempt_at) > now:
            return None
        row.next_attempt_at = now + LEASE
        try:
            recipients = [open_recipient(settings, r) for r in row.recipients]
        except IdentityKeyError as exc:
            # A lost key stops mail to anonymous reporters only; it never stops the worker.
            outbox.mark_failed_attempt(session, row, f"cannot open the sealed recipient: {exc}", False,
                                       settings.outbound.max_attempts, settings.outbound.retry_base_seconds, now)
            log.error("outbox %s: sealed recipient cannot be opened: %s", outbox_id, exc)
            return None
        sealed = [a for a, r in zip(recipients, row.recipients, strict=True) if r.startswith(SEALED_PREFIX)]
        return row.envelope_from, recipients, open_bytes(settings, row.content), sealed


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns naive datetimes


def deliver_one(factory: sessionmaker[Session], settings: Settings, transport: Transport, outbox_id: int,
                now: datetime) -> str | None:
    """Try one message; return its new status, or None if it was not due or another worker has it.

    The network hand-off happens outside any database transaction, so a slow relay never holds
    a lock the listener needs. A crash after the hand-off leaves the row leased, and it is
    retried when the lease ends: at-least-once towards a relay, exactly once into the Maildir
    (whose file name is the outbox id).
    """
    claimed = _claim(factory, settings, outbox_id, now)
    if claimed is None:
        return None
    envelope_from, recipients, content, sealed = claimed
    failure: DeliveryError | None = None
    try:
        transport.deliver(outbox_id, envelope_from, recipients, content)
    except DeliveryError as exc:
        # A relay quotes the address it refuses: recorded without it (sealed or not).
        failure = DeliveryError(redact_error(str(exc), [("", a) for a in sealed]), exc.permanent)
        log.warning("outbox %s: %s", outbox_id, failure)
    with factory() as session, session.begin():
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        if failure is None:
            outbox.mark_sent(session, row, now)
        else:
            outbox.mark_failed_attempt(session, row, str(failure), failure.permanent,
                                       settings.outbound.max_attempts, settings.outbound.retry_base_seconds, now)
        return row.status.value


def deliver_due(factory: sessionmaker[Session], settings: Settings, transport: Transport | None = None,
                now: datetime | None = None, limit: int = 50) -> dict[str, int]:
    """Deliver every due message; returns counts by resulting status."""
    now = now or datetime.now(UTC)
    transport = transport or transport_for(settings)
    with factory() as session:
        ids = outbox.due_ids(session, now, limit)
    counts: dict[str, int] = {}
    for outbox_id in ids:
        status = deliver_one(factory, settings, transport, outbox_id, now)
        if status:
            counts[status] = counts.get(status, 0) + 1
    return counts
