"""Deliver due outbox messages, one transaction per message.

Each row is claimed (FOR UPDATE SKIP LOCKED on PostgreSQL, so several workers never send the
same row), handed to the transport, and its outcome recorded in the same transaction.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.config import Settings
from stopit_mail.models import OutboxMessage, OutboxStatus
from stopit_mail.outbound import outbox
from stopit_mail.outbound.delivery import DeliveryError, Transport, transport_for
from stopit_mail.sealing import open_recipient

log = logging.getLogger(__name__)


def deliver_one(session: Session, settings: Settings, transport: Transport, outbox_id: int,
                now: datetime) -> str | None:
    """Try one message; return its new status, or None if another worker has it."""
    query = select(OutboxMessage).where(OutboxMessage.id == outbox_id)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = session.scalar(query)
    if row is None or row.status is not OutboxStatus.QUEUED:
        return None
    try:
        recipients = [open_recipient(settings, r) for r in row.recipients]
        transport.deliver(row.id, row.envelope_from, recipients, row.content)
    except DeliveryError as exc:
        log.warning("outbox %s: %s", row.id, exc)
        outbox.mark_failed_attempt(session, row, str(exc), exc.permanent, settings.outbound.max_attempts,
                                   settings.outbound.retry_base_seconds, now)
    else:
        outbox.mark_sent(session, row, now)
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
        with factory() as session, session.begin():
            status = deliver_one(session, settings, transport, outbox_id, now)
        if status:
            counts[status] = counts.get(status, 0) + 1
    return counts
