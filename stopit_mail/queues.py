"""Queue depths, the oldest waiting message and the latest errors: what `stopit status` shows.

Kept out of server.py so the staff API can report it without importing the server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from stopit_mail.models import OutboxMessage, RawMessage, RawStatus
from stopit_mail.outbound.outbox import backlog


def waiting() -> ColumnElement[bool]:
    """The messages waiting to be processed, found through the (status, id) index.

    Nearly every message is `processed`: after ANALYZE, SQLite's statistics (one value in the
    status index) make it read all of them to find the few waiting, 0.4 s at a million
    messages, for `stopit status` and the watchdog alike. Through an IN over the index it
    reads only those.
    """
    return RawMessage.id.in_(select(RawMessage.id).where(RawMessage.status == RawStatus.RECEIVED))


def queue_status(session: Session, now: datetime | None = None, recent: int = 5) -> dict[str, Any]:
    """Queue depths, oldest waiting age and the latest errors, for `stopit status`."""
    now = now or datetime.now(UTC)
    raw_counts = {status.value: 0 for status in RawStatus}
    for status, count in session.execute(select(RawMessage.status, func.count()).group_by(RawMessage.status)):
        raw_counts[status.value] = count
    oldest = session.scalar(select(func.min(RawMessage.received_at)).where(waiting()))
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)  # SQLite returns naive datetimes
    quarantined = session.execute(
        select(RawMessage.id, RawMessage.received_at, RawMessage.reason)
        .where(RawMessage.status == RawStatus.QUARANTINED).order_by(RawMessage.id.desc()).limit(recent))
    outbox_errors = session.execute(
        select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.status, OutboxMessage.attempts,
               OutboxMessage.last_error)
        .where(OutboxMessage.last_error.is_not(None)).order_by(OutboxMessage.id.desc()).limit(recent))
    return {
        "raw_messages": raw_counts,
        "outbox": {"queued": 0, "sent": 0, "failed": 0, **backlog(session)},
        "oldest_waiting_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "recent_quarantine": [
            {"id": i, "received_at": r.isoformat() if r else None, "reason": reason}
            for i, r, reason in quarantined],
        "recent_outbox_errors": [
            {"id": i, "kind": kind, "status": status.value, "attempts": attempts, "error": error}
            for i, kind, status, attempts, error in outbox_errors],
    }
