"""Worker heartbeats and leases: what the watchdog reads, and what a starting worker clears.

A running worker records, every few seconds, that it is alive and how many messages it has
finished. `watchdog.py` compares that with the waiting queue to tell an idle worker from a
stopped or stuck one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, insert, update
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.models import RawMessage, RawStatus, WorkerHeartbeat

BEAT_EVERY_SECONDS = 2.0
_RAW = cast(Table, RawMessage.__table__)
_BEATS = cast(Table, WorkerHeartbeat.__table__)
_last_beat: dict[str, tuple[float, int]] = {}


def beat(factory: sessionmaker[Session], worker: str, finished: int) -> None:
    """Record that `worker` is alive (at most every BEAT_EVERY_SECONDS unless it made progress)."""
    last = _last_beat.get(worker)
    now = time.monotonic()
    if last is not None and now - last[0] < BEAT_EVERY_SECONDS and last[1] == finished:
        return
    _last_beat[worker] = (now, finished)
    stamp = datetime.now(UTC)
    with factory() as session, session.begin():
        done = cast(CursorResult[Any], session.execute(update(_BEATS).where(_BEATS.c.worker == worker)
                               .values(beat_at=stamp, processed=finished)))
        if done.rowcount == 0:
            session.execute(insert(_BEATS).values(worker=worker, started_at=stamp, beat_at=stamp,
                                                  processed=finished))


def leave(factory: sessionmaker[Session], worker: str) -> None:
    """A worker stopping on purpose removes its heartbeat (a stale one means it died)."""
    _last_beat.pop(worker, None)
    with factory() as session, session.begin():
        session.execute(delete(_BEATS).where(_BEATS.c.worker == worker))


def release_leases(factory: sessionmaker[Session]) -> int:
    """Free every lease on waiting messages (a starting worker: whoever held them has stopped).

    On PostgreSQL with several workers this may let one message be computed twice; the write
    step's re-check still records it once.
    """
    with factory() as session, session.begin():
        result = cast(CursorResult[Any], session.execute(
            update(_RAW).where(_RAW.c.status == RawStatus.RECEIVED.value, _RAW.c.claimed_until.is_not(None))
            .values(claimed_until=None)))
    return int(result.rowcount or 0)


def release_lease(factory: sessionmaker[Session], raw_id: int) -> None:
    """Free one message's lease so it is retried at once (after a transient failure)."""
    with factory() as session, session.begin():
        session.execute(update(_RAW).where(_RAW.c.id == raw_id).values(claimed_until=None))
