"""Work the worker does on a schedule rather than per message: today, retention.

Retention (`cases.retention.run_due`) warns about closed cases entering their warning period
and purges the ones due. Nothing else runs it, so an installation that never types
`stopit retention run` would keep everything forever; the worker therefore calls `tick` on
every turn. The check is cheap (a comparison of two times, no query) and the run happens at
most once per `RETENTION_INTERVAL` per worker; `run_due` is idempotent, so a second worker
on PostgreSQL repeating it finds nothing to do (and an advisory lock keeps two runs from
overlapping). Warnings and purges are audited as the system (`events.SYSTEM_ACTOR`).

A failing run (the database away, a lock held) is logged and tried again after
`RETRY_INTERVAL`: retention must never stop the worker from processing reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.cases.retention import RunResult, run_due
from stopit_mail.config import Settings
from stopit_mail.db import transaction
from stopit_mail.errors import StopitError

log = logging.getLogger(__name__)

RETENTION_INTERVAL = timedelta(hours=1)
RETRY_INTERVAL = timedelta(minutes=5)
# pg_try_advisory_xact_lock key: "stopit retention" as a number, the same in every worker.
_PG_LOCK_KEY = 0x5707_1723


def retention_enabled(settings: Settings) -> bool:
    """Whether any organisation has a retention rule (else there is never anything to do)."""
    return any(org.retention.closed_days or org.retention.outcomes for org in settings.organisations)


def _locked_elsewhere(session: Session) -> bool:
    """On PostgreSQL, True when another worker is running retention right now."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    return not session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


class RetentionTick:
    """Runs retention from the worker loop at most once per interval, on the app's clock."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings, clock: Callable[[], datetime],
                 interval: timedelta = RETENTION_INTERVAL) -> None:
        self.factory = factory
        self.settings = settings
        self.clock = clock
        self.interval = interval
        self.next_run: datetime | None = None  # None: at the first turn
        self.runs = 0

    def tick(self) -> RunResult | None:
        """Run retention when it is due; the result, or None when not run (not due, disabled, failed)."""
        now = self.clock()
        if self.next_run is not None and now < self.next_run:
            return None
        self.next_run = now + self.interval
        if not retention_enabled(self.settings):
            return None
        try:
            with transaction(self.factory) as session:
                if _locked_elsewhere(session):
                    return None
                result = run_due(session, self.settings, now=now)
        except (SQLAlchemyError, StopitError) as exc:
            self.next_run = now + RETRY_INTERVAL
            log.error("retention run failed (retrying in %s): %s", RETRY_INTERVAL, exc)
            return None
        self.runs += 1
        if result.warned or result.purged:
            log.info("retention: warned %d case(s), purged %d", len(result.warned), len(result.purged))
        return result
