"""Whether the listener is flooded, seen from a worker that the listener does not wake.

`stopit serve`'s own worker (a thread, or its supervised child) is woken after every stored
message and judges a flood from those wakes. A separate `stopit worker` (run to scale out on
PostgreSQL) is never woken: it polls. Without this probe it never saw a flood, so it took a whole
core while the listener on the same host stored each message before its 250. It judges the
flood the same way, from how fast messages are stored: the newest stored message's id (the
primary key, one index probe) is read at most every PROBE_SECONDS and compared with the last
reading. A worker on another host than the listener does not compete for its CPU:
`server.pace_separate_worker = false` turns the probe off there.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.models import RawMessage

log = logging.getLogger(__name__)

PROBE_SECONDS = 0.5


class StoredRate:
    """Callable: whether at least ``per_second`` messages a second were stored since the last look."""

    def __init__(self, factory: sessionmaker[Session], per_second: float) -> None:
        self.factory = factory
        self.per_second = per_second
        self._last: tuple[float, int] | None = None
        self._flooding = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < PROBE_SECONDS:
            return self._flooding
        try:
            with self.factory() as session:
                newest = session.scalar(select(func.max(RawMessage.id))) or 0
        except SQLAlchemyError as exc:
            # The database is busy or away: keep the last judgement; the worker's own calls report it.
            log.debug("flood probe failed: %s", exc)
            return self._flooding
        if self._last is not None:
            seconds, stored = now - self._last[0], newest - self._last[1]
            self._flooding = stored >= self.per_second * seconds
        self._last = (now, newest)
        return self._flooding
