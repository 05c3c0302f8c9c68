"""The worker loop: process waiting messages, deliver the outbox, sleep until woken.

The listener only stores; this loop does everything after. Each turn claims and processes
waiting messages one transaction at a time (`runner.process_next`), then hands due outbox
rows to the transport (`sender.deliver_due`). When a turn found nothing to do it sleeps on a
wake event, which the listener sets after each stored message, with a short timeout so
retries that come due and messages stored by another process are still picked up.

State lives only in the database, so a restarted worker simply resumes: whatever is still
`received` is processed, whatever is still `queued` is delivered. Several workers may run
against PostgreSQL (claims use SKIP LOCKED); on SQLite run one.

Stopping (`stop()`, from a signal handler or the server) lets the message in hand finish its
transaction and then returns; nothing is interrupted half-way.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from stopit_mail.app import App
from stopit_mail.cases.escalation import escalation_tick
from stopit_mail.outbound.delivery import Transport
from stopit_mail.outbound.sender import deliver_due
from stopit_mail.processing.runner import DEFAULT_PIPELINE, ProcessingFailed, process_next, quarantine

log = logging.getLogger(__name__)

# A message whose processing fails this many times with a non-transient database error is
# quarantined, so one poison message cannot stall the queue behind it.
MAX_FAILURES = 3


@dataclass
class TurnReport:
    """What one turn of the loop did."""

    processed: int = 0
    quarantined: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    pages: int = 0
    errors: int = 0

    @property
    def busy(self) -> bool:
        """Whether the turn did any work (if so, look again at once)."""
        return bool(self.processed or self.quarantined or sum(self.delivered.values()))


class Worker:
    """Processes and delivers until stopped; safe to run in a thread."""

    def __init__(self, app: App, idle_seconds: float = 1.0, batch: int = 25,
                 transport: Transport | None = None, pipeline: tuple[str, ...] = DEFAULT_PIPELINE) -> None:
        self.app = app
        self.idle_seconds = idle_seconds
        self.batch = batch
        self.transport = transport
        self.pipeline = pipeline
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failures: Counter[int] = Counter()
        self._given_up: set[int] = set()
        self.totals = TurnReport()

    def wake(self) -> None:
        """Ask for a turn now (called by the listener after each stored message)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the message in hand, then leave `run`."""
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """Whether `stop` was called."""
        return self._stop.is_set()

    def run(self) -> None:
        """Loop until `stop`: work while there is work, otherwise sleep until woken."""
        log.info("worker started")
        while not self._stop.is_set():
            # Clear before looking, so a wake that arrives during the turn is not lost.
            self._wake.clear()
            report = self.run_once()
            if not report.busy:
                self._wake.wait(self.idle_seconds)
        log.info("worker stopped: %s", self.totals)

    def run_once(self) -> TurnReport:
        """One turn: process up to `batch` waiting messages, then deliver due outbox rows."""
        report = TurnReport()
        for _ in range(self.batch):
            if self._stop.is_set():
                break
            if not self._process_one(report):
                break
        if not self._stop.is_set():
            try:
                # Escalation deadlines first: a page due now matters more than a backlog.
                report.pages = escalation_tick(self.app.factory, self.app.settings, self.app.clock())
            except SQLAlchemyError as exc:
                report.errors += 1
                log.error("escalation tick failed: %s", exc)
            try:
                report.delivered = deliver_due(self.app.factory, self.app.settings, self.transport)
            except SQLAlchemyError as exc:
                report.errors += 1
                log.error("outbox delivery failed: %s", exc)
        self._add_to_totals(report)
        return report

    def _process_one(self, report: TurnReport) -> bool:
        """Process the next waiting message; False when there is none (or on a database error)."""
        try:
            outcome = process_next(self.app.factory, self.app.settings, self.pipeline,
                                   frozenset(self._given_up))
        except ProcessingFailed as exc:
            report.errors += 1
            self._record_failure(exc)
            return False
        except SQLAlchemyError as exc:
            # The claim itself failed (database down or locked): wait for the next turn.
            report.errors += 1
            log.error("could not claim a message: %s", exc)
            return False
        if outcome is None:
            return False
        if outcome.status == "processed":
            report.processed += 1
        elif outcome.status == "quarantined":
            report.quarantined += 1
        self._failures.pop(outcome.raw_id, None)
        return True

    def _record_failure(self, exc: ProcessingFailed) -> None:
        cause = exc.__cause__
        log.error("processing message %s failed: %r", exc.raw_id, cause)
        if isinstance(cause, OperationalError):
            return  # transient (locked, disconnected): retried on the next turn
        self._failures[exc.raw_id] += 1
        if self._failures[exc.raw_id] < MAX_FAILURES:
            return
        reason = f"worker: {cause.__class__.__name__}: {cause}"[:1000]
        try:
            quarantine(self.app.factory, exc.raw_id, reason)
        except SQLAlchemyError:
            # Cannot even quarantine it: skip it in this process; it stays `received`.
            log.exception("could not quarantine message %s", exc.raw_id)
            self._given_up.add(exc.raw_id)
        self._failures.pop(exc.raw_id, None)

    def _add_to_totals(self, report: TurnReport) -> None:
        self.totals.processed += report.processed
        self.totals.quarantined += report.quarantined
        self.totals.errors += report.errors
        for status, count in report.delivered.items():
            self.totals.delivered[status] = self.totals.delivered.get(status, 0) + count
