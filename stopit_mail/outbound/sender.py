"""Deliver due outbox messages: one transaction leases a batch, one records the outcomes.

Each row is claimed with a short lease (FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on
SQLite, so several workers never send the same row), handed to the transport outside any
transaction, and its outcome recorded in a second short transaction.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.config import Settings
from stopit_mail.db import claim_writer
from stopit_mail.models import OutboxMessage, OutboxStatus
from stopit_mail.outbound import outbox
from stopit_mail.outbound.delivery import DeliveryError, Transport, transport_for
from stopit_mail.sealing import SEALED_PREFIX, IdentityKeyError, open_bytes, open_recipient

log = logging.getLogger(__name__)

# How long a claimed row is left alone by other workers: longer than one relay attempt can take
# (RelayTransport times out after 30 s), and short, because after a crash mid-delivery the
# message waits out the lease before it is retried.
LEASE = timedelta(seconds=60)


SEALED_IN_TEXT = "[sealed recipient]"


def _scrub(text: str, sealed: list[str]) -> str:
    """An error text without the sealed recipients' addresses (a relay quotes what it refuses)."""
    for address in sealed:
        if address:
            text = re.sub(re.escape(address), SEALED_IN_TEXT, text, flags=re.IGNORECASE)
            local = address.rpartition("@")[0]
            if len(local) >= 3:
                text = re.sub(re.escape(local), SEALED_IN_TEXT, text, flags=re.IGNORECASE)
    return text


@dataclass(frozen=True)
class _Claimed:
    """A leased row, ready to hand to the transport outside any transaction."""

    outbox_id: int
    envelope_from: str
    recipients: list[str]
    content: bytes
    sealed: list[str]


def _claim_rows(session: Session, settings: Settings, outbox_ids: list[int], now: datetime) -> list[_Claimed]:
    """Lease the due rows among `outbox_ids` for LEASE (other workers skip them), in order."""
    claim_writer(session)
    query = select(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = {row.id: row for row in session.scalars(query)}
    claimed: list[_Claimed] = []
    for outbox_id in outbox_ids:
        row = rows.get(outbox_id)
        if row is None or row.status is not OutboxStatus.QUEUED or _aware(row.next_attempt_at) > now:
            continue
        row.next_attempt_at = now + LEASE
        try:
            recipients = [open_recipient(settings, r) for r in row.recipients]
        except IdentityKeyError as exc:
            # A lost key stops mail to anonymous reporters only; it never stops the worker.
            outbox.mark_failed_attempt(session, row, f"cannot open the sealed recipient: {exc}", False,
                                       settings.outbound.max_attempts, settings.outbound.retry_base_seconds, now)
            log.error("outbox %s: sealed recipient cannot be opened: %s", outbox_id, exc)
            continue
        sealed = [a for a, r in zip(recipients, row.recipients, strict=True) if r.startswith(SEALED_PREFIX)]
        claimed.append(_Claimed(row.id, row.envelope_from, recipients, open_bytes(settings, row.content), sealed))
    return claimed


def _claim(factory: sessionmaker[Session], settings: Settings, outbox_id: int,
           now: datetime) -> tuple[str, list[str], bytes, list[str]] | None:
    """Lease a due row for LEASE (other workers skip it); None if it is not ours to send."""
    with factory() as session, session.begin():
        for row in _claim_rows(session, settings, [outbox_id], now):
            return row.envelope_from, row.recipients, row.content, row.sealed
        return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns naive datetimes


def _hand_off(transport: Transport, claimed: _Claimed) -> DeliveryError | None:
    """Give one leased message to the transport (no transaction open); the failure, if any."""
    try:
        transport.deliver(claimed.outbox_id, claimed.envelope_from, claimed.recipients, claimed.content)
    except DeliveryError as exc:
        failure = DeliveryError(_scrub(str(exc), claimed.sealed), exc.permanent)
        log.warning("outbox %s: %s", claimed.outbox_id, failure)
        return failure
    return None


def _record(session: Session, settings: Settings, outbox_id: int, failure: DeliveryError | None,
            now: datetime) -> str:
    row = session.get(OutboxMessage, outbox_id)
    assert row is not None
    if failure is None:
        outbox.mark_sent(session, row, now)
    else:
        outbox.mark_failed_attempt(session, row, str(failure), failure.permanent,
                                   settings.outbound.max_attempts, settings.outbound.retry_base_seconds, now)
    return row.status.value


def deliver_one(factory: sessionmaker[Session], settings: Settings, transport: Transport, outbox_id: int,
                now: datetime) -> str | None:
    """Try one message; return its new status, or None if it was not due or another worker has it.

    The network hand-off happens outside any database transaction, so a slow relay never holds
    a lock the listener needs. A crash after the hand-off leaves the row leased, and it is
    retried when the lease ends: at-least-once towards a relay, exactly once into the Maildir
    (whose file name is the outbox id).
    """
    return deliver_due_ids(factory, settings, transport, [outbox_id], now).get(outbox_id)


def deliver_due_ids(factory: sessionmaker[Session], settings: Settings, transport: Transport,
                    outbox_ids: list[int], now: datetime) -> dict[int, str]:
    """Deliver these rows if due, with two short transactions for all of them: the new statuses.

    One transaction leases them all, the transport gets each outside any transaction, and one
    transaction records every outcome, so a turn of 50 acknowledgements takes the database's
    write lock twice instead of a hundred times (the listener needs it to accept mail).
    """
    with factory() as session, session.begin():
        claimed = _claim_rows(session, settings, outbox_ids, now)
    if not claimed:
        return {}
    failures = [(row.outbox_id, _hand_off(transport, row)) for row in claimed]
    with factory() as session, session.begin():
        return {outbox_id: _record(session, settings, outbox_id, failure, now) for outbox_id, failure in failures}


def deliver_due(factory: sessionmaker[Session], settings: Settings, transport: Transport | None = None,
                now: datetime | None = None, limit: int = 50) -> dict[str, int]:
    """Deliver every due message, pages and emergencies first; returns counts by resulting status."""
    now = now or datetime.now(UTC)
    transport = transport or transport_for(settings)
    with factory() as session:
        ids = outbox.due_ids(session, now, limit)
    counts: dict[str, int] = {}
    for status in deliver_due_ids(factory, settings, transport, ids, now).values():
        counts[status] = counts.get(status, 0) + 1
    return counts
