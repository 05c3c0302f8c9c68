"""The worker loop: process waiting messages, deliver the outbox, sleep until woken.

The listener only stores; this loop does everything after. Each turn claims waiting messages
in batches, most urgent first, computes them one at a time and writes each batch in one
transaction (`runner.process_batch`), then hands due
outbox rows to the transport, pages and emergencies first (`sender.deliver_due`). When a turn
found nothing to do it sleeps on a wake event, which the listener sets after each stored
message, with a short timeout so retries that come due and messages stored by another process
are still picked up.

One message cannot stall the loop: each is processed in a helper thread under a time budget
(`limits.processing_seconds`). Past it the attempt is abandoned (the thread is left to finish
on its own; its late write is refused unless the message is still waiting) and the loop goes
on; the attempt was counted when the message was claimed, so after `limits.max_attempts` it is
quarantined. The worker writes a heartbeat so the watchdog and `stopit status` can tell a
stopped or stuck worker from an idle one.

During a flood (judged from the listener's wakes) the worker keeps to a small share of one
core and, on SQLite, of the write lock, so accepting mail comes first; an emergency waiting ends
either pause. It then also computes ordinary messages on a thread at `server.flood_nice`, so the
listener's threads take a core at once whenever they have work; the claim and the write (which
hold the write lock) and an emergency's whole work stay on threads at the worker's own priority.

State lives only in the database, so a restarted worker simply resumes. Several workers may run
against PostgreSQL (claims use SKIP LOCKED); on SQLite run one.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from stopit_mail.app import App
from stopit_mail.cases.escalation import escalation_tick
from stopit_mail.cases.pretriage import EMERGENCY
from stopit_mail.outbound.delivery import Transport
from stopit_mail.outbound.sender import deliver_due
from stopit_mail.processing import heartbeat
from stopit_mail.processing.context import StoredMessage
from stopit_mail.processing.outcomes import Outcome
from stopit_mail.processing.periodic import RetentionTick
from stopit_mail.processing.rules import warm_up
from stopit_mail.processing.runner import RunsStep, emergency_waiting, process_batch, quarantine, run_here

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# During a flood (the listener stored this many messages in the last second) the worker on SQLite
# holds the write lock at most LOCK_SHARE_IN_FLOOD of the time, so accepting mail comes first;
# emergencies are written at once regardless, and the backlog drains when the flood ends.
FLOOD_WAKES_PER_SECOND = 10
LOCK_SHARE_IN_FLOOD = 0.2
MAX_PAUSE_SECONDS = 0.5
# Messages written per transaction during a flood on SQLite: each write then holds the lock for
# a few milliseconds of work, so a client waits at most that long (plus SQLite's busy-wait step)
# instead of the length of a whole batch; the pause above keeps the share the same.
FLOOD_WRITE_BATCH = 2
# Messages computed one by one, then written in one transaction (one durable commit), normally.
WRITE_BATCH = 8
# During a flood the worker uses at most this share of one core (its process's CPU time), on
# either database: a niceness only weighs the worker against the listener when both are ready to
# run, and on a loaded machine that still left it a third of a core, about a third of the accept
# rate. Accepting mail comes first; the backlog drains when the flood ends. An emergency waiting
# ends the pause (probed every EMERGENCY_PROBE_SECONDS), so its page is not delayed by it.
FLOOD_CPU_SHARE = 0.1
MAX_CPU_PAUSE_SECONDS = 2.0
EMERGENCY_PROBE_SECONDS = 0.2
# A turn stops taking messages after this long (paced in a flood, 25 messages could take a minute).
TURN_SECONDS = 5.0

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
    abandoned: int = 0

    @property
    def busy(self) -> bool:
        """Whether the turn did any work (if so, look again at once)."""
        return bool(self.processed or self.quarantined or self.abandoned or sum(self.delivered.values()))


class Worker:
    """Processes and delivers until stopped; safe to run in a thread."""

    # Set by `run_worker` for a separate worker on the listener's host (`flood_probe.StoredRate`).
    flood_probe: Callable[[], bool] | None = None

    def __init__(self, app: App, idle_seconds: float = 1.0, batch: int = 25,
                 transport: Transport | None = None, write_batch: int = WRITE_BATCH) -> None:
        self.app = app
        self.write_batch = max(1, write_batch)
        self.idle_seconds = idle_seconds
        self.batch = batch
        self.transport = transport
        # Set for serve's worker child (a process of its own under the memory cap): a MemoryError
        # the batch could not contain ends this worker, and serve starts a fresh process.
        self.exit_on_memory_error = False
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:120]
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failures: Counter[int] = Counter()
        self._given_up: set[int] = set()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="stopit-process")
        # During a flood: ordinary messages are computed on `_flood_pool` (its thread at
        # server.flood_nice), their claims and writes run on `_base_pool` (the worker's own).
        self._flood_pool: ThreadPoolExecutor | None = None
        self._base_pool = _started_pool()
        self._wakes: deque[float] = deque(maxlen=FLOOD_WAKES_PER_SECOND)
        self._sqlite = app.engine.dialect.name == "sqlite"
        self._write_started = 0.0
        self._write_ended = 0.0
        self._write_took = 0.0
        self._cpu_mark: tuple[float, float] | None = None
        self.totals = TurnReport()
        self.retention = RetentionTick(app.factory, app.settings, app.clock)

    def wake(self) -> None:
        """Ask for a turn now (called by the listener after each stored message)."""
        self._wakes.append(time.monotonic())
        self._wake.set()

    def in_flood(self) -> bool:
        """Whether the listener stored FLOOD_WAKES_PER_SECOND messages within the last second: from
        its wakes, or for a worker it does not wake (`stopit worker`), from `flood_probe`."""
        wakes = self._wakes
        if len(wakes) == wakes.maxlen and time.monotonic() - wakes[0] < 1.0:
            return True
        return self.flood_probe is not None and self.flood_probe()

    def _pace(self, urgent: bool) -> None:
        """Before a write: in a flood on SQLite, leave the write lock to the listener for a while."""
        if self._sqlite and not urgent and self.in_flood() and self._write_took:
            resume = self._write_ended + self._write_took * (1 / LOCK_SHARE_IN_FLOOD - 1)
            self._stop.wait(min(MAX_PAUSE_SECONDS, max(0.0, resume - time.monotonic())))
        self._write_started = time.monotonic()

    def _cpu_pace(self, ends: float) -> bool:
        """Before taking more messages in a flood: pause until the worker's CPU since the last
        pause is within FLOOD_CPU_SHARE of one core, unless an emergency waits. False if the
        turn's end (`ends`) came first: the rest of the pause is owed at the next turn's start."""
        now, cpu = time.monotonic(), time.process_time()
        if self._cpu_mark is None or not self.in_flood():
            self._cpu_mark = (now, cpu)
            return True
        wall, spent = self._cpu_mark
        due = min(wall + (cpu - spent) / FLOOD_CPU_SHARE, now + MAX_CPU_PAUSE_SECONDS)
        while not self._stop.is_set() and (left := min(due, ends) - time.monotonic()) > 0:
            if emergency_waiting(self.app.factory):
                break
            self._stop.wait(min(EMERGENCY_PROBE_SECONDS, left))
        else:
            if not self._stop.is_set() and time.monotonic() < due:
                return False
        self._cpu_mark = (time.monotonic(), time.process_time())
        return True

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
        log.info("worker %s started", self.name)
        heartbeat.release_leases(self.app.factory)
        warm_up(self.app.settings)
        try:
            while not self._stop.is_set():
                # Clear before looking, so a wake that arrives during the turn is not lost.
                self._wake.clear()
                report = self.run_once()
                if not report.busy:
                    self._wake.wait(self.idle_seconds)
        finally:
            for pool in (self._pool, self._flood_pool, self._base_pool):
                if pool is not None:
                    pool.shutdown(wait=False)
            heartbeat.leave(self.app.factory, self.name)
        log.info("worker stopped: %s", self.totals)

    def run_once(self) -> TurnReport:
        """One turn: process up to `batch` waiting messages, then deliver due outbox rows.

        A batch with an emergency is followed by a delivery at once: its page must not wait
        for the rest of the turn. A turn paced in a flood ends after TURN_SECONDS, so deliveries,
        escalation deadlines and the heartbeat keep their rhythm.
        """
        report = TurnReport()
        remaining = self.batch
        ends = time.monotonic() + TURN_SECONDS
        while remaining > 0 and not self._stop.is_set() and time.monotonic() < ends:
            if not self._cpu_pace(ends):
                break
            size = min(self.write_batch, FLOOD_WRITE_BATCH) if self._sqlite and self.in_flood() else self.write_batch
            taken, urgent = self._process_some(min(remaining, size), report)
            if not taken:
                break
            remaining -= taken
            if urgent:
                self._deliver(report)
        if not self._stop.is_set():
            self._deliver(report)
            self.retention.tick()  # at most once an hour; a cheap comparison otherwise
        self._add_to_totals(report)
        try:
            heartbeat.beat(self.app.factory, self.name, self.totals.processed + self.totals.quarantined)
        except SQLAlchemyError as exc:
            log.warning("could not write the worker heartbeat: %s", exc)
        return report

    def _deliver(self, report: TurnReport) -> None:
        try:
            # Escalation deadlines first: a page due now matters more than a backlog.
            report.pages += escalation_tick(self.app.factory, self.app.settings, self.app.clock())
        except SQLAlchemyError as exc:
            report.errors += 1
            log.error("escalation tick failed: %s", exc)
        try:
            for status, count in deliver_due(self.app.factory, self.app.settings, self.transport).items():
                report.delivered[status] = report.delivered.get(status, 0) + count
        except SQLAlchemyError as exc:
            report.errors += 1
            log.error("outbox delivery failed: %s", exc)

    def _batch(self, size: int, claimed: list[tuple[StoredMessage, float]], at_base: RunsStep) -> list[Outcome]:
        self._write_started = 0.0
        done = process_batch(self.app.factory, self.app.settings, size, frozenset(self._given_up),
                             lambda stored: claimed.append((stored, time.monotonic())), self._pace, at_base)
        if self._write_started:
            self._write_ended = time.monotonic()
            self._write_took = self._write_ended - self._write_started
        return done

    def _process_some(self, size: int, report: TurnReport) -> tuple[int, bool]:
        """Process up to `size` messages in one write: how many were taken (0: none waiting), and
        whether one of them was pre-triaged as an emergency."""
        claimed: list[tuple[StoredMessage, float]] = []
        lowered = self._lowered_pool()
        future: Future[list[Outcome]] = (
            self._pool.submit(self._batch, size, claimed, run_here) if lowered is None
            else lowered.submit(self._batch, size, claimed, self._at_base))
        budget = self.app.settings.limits.processing_seconds
        while True:
            try:
                done = future.result(timeout=min(1.0, budget))
                break
            except FutureTimeout:
                if claimed and time.monotonic() - claimed[-1][1] > budget:
                    self._abandon(claimed[-1][0], report)
                    return len(claimed), False
            except (SQLAlchemyError, MemoryError) as exc:
                # The claim or the write transaction failed (database down or locked), or a
                # message needed more than the memory budget outside its handlers: their messages
                # are retried at once on the next turn, each attempt already counted, so one
                # that keeps failing is quarantined after limits.max_attempts.
                report.errors += 1
                log.error("processing failed: %r", exc)
                out_of_memory = isinstance(exc, MemoryError)
                del exc, future  # the failed batch's frames (and the message they hold) go with them
                if out_of_memory:
                    gc.collect()
                    if self.exit_on_memory_error:
                        # serve's child under the memory cap: a fresh process continues from clean
                        # memory (each attempt was counted at its claim); retrying here kept failing.
                        log.error("out of memory: this worker process stops and serve starts a new one")
                        self.stop()
                for stored, _started in claimed:
                    self._release(stored.id)
                return 0, False
        for outcome in done:
            if outcome.status == "processed":
                report.processed += 1
            elif outcome.status == "quarantined":
                report.quarantined += 1
            elif outcome.status == "failed":
                report.errors += 1
                self._record_failure(outcome)
                continue
            self._failures.pop(outcome.raw_id, None)
        return len(claimed), any(stored.priority >= EMERGENCY for stored, _started in claimed)

    def _abandon(self, stored: StoredMessage, report: TurnReport) -> None:
        """Leave a message that overran its time budget; carry on with a fresh thread."""
        report.abandoned += 1
        budget = self.app.settings.limits.processing_seconds
        # The stuck thread keeps running; its late write is refused unless the message still waits.
        # (Stuck computing an emergency, or writing, it holds the base thread: that is replaced too.)
        for pool in (self._pool, self._flood_pool, self._base_pool):
            if pool is not None:
                pool.shutdown(wait=False)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="stopit-process")
        self._flood_pool = None
        self._base_pool = _started_pool()
        log.error("message %s overran its time budget of %s s (attempt %s)", stored.id, budget, stored.attempts)
        if stored.attempts >= self.app.settings.limits.max_attempts:
            try:
                quarantine(self.app.factory, self.app.settings, stored.id,
                           f"time budget: processing took longer than {budget:g} s in {stored.attempts} attempts")
            except SQLAlchemyError:
                log.exception("could not quarantine message %s", stored.id)

    def _lowered_pool(self) -> ThreadPoolExecutor | None:
        """The pool whose thread computes at server.flood_nice, during a flood (else None)."""
        niceness = self.app.settings.server.flood_nice
        if not niceness or not sys.platform.startswith("linux") or not self.in_flood():
            return None
        if self._flood_pool is None:
            self._flood_pool = ThreadPoolExecutor(1, thread_name_prefix="stopit-flood",
                                                  initializer=lower_thread_priority, initargs=(niceness,))
        return self._flood_pool

    def _at_base(self, step: Callable[[], _T]) -> _T:
        """Run `step` on the thread at the worker's own priority, and wait for it."""
        return self._base_pool.submit(step).result()

    def _release(self, raw_id: int) -> None:
        try:
            heartbeat.release_lease(self.app.factory, raw_id)
        except SQLAlchemyError:
            log.warning("could not release the lease of message %s", raw_id)

    def _record_failure(self, outcome: Outcome) -> None:
        self._release(outcome.raw_id)
        if outcome.transient:
            return  # locked, disconnected: retried on the next turn
        self._failures[outcome.raw_id] += 1
        if self._failures[outcome.raw_id] < MAX_FAILURES:
            return
        try:
            quarantine(self.app.factory, self.app.settings, outcome.raw_id, f"worker: {outcome.reason}"[:1000])
        except SQLAlchemyError:
            # Cannot even quarantine it: skip it in this process; it stays `received`.
            log.exception("could not quarantine message %s", outcome.raw_id)
            self._given_up.add(outcome.raw_id)
        self._failures.pop(outcome.raw_id, None)

    def _add_to_totals(self, report: TurnReport) -> None:
        self.totals.processed += report.processed
        self.totals.quarantined += report.quarantined
        self.totals.errors += report.errors
        self.totals.abandoned += report.abandoned
        for status, count in report.delivered.items():
            self.totals.delivered[status] = self.totals.delivered.get(status, 0) + count



def lower_thread_priority(niceness: int) -> None:
    """Raise the calling thread's niceness to `niceness` (Linux keeps one per thread; lowering
    one's own priority needs no privilege). Never lowers it: a worker niced further keeps that."""
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, max(niceness, os.getpriority(os.PRIO_PROCESS, tid)))
    except OSError as exc:
        log.warning("could not lower the flood thread's priority: %s", exc)


def _started_pool() -> ThreadPoolExecutor:
    """A one-thread pool whose thread is started now, by the caller: a pool starts its thread at
    the first task, from the thread that submits it, whose niceness the new thread inherits (the
    flood thread's, had it been that one)."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="stopit-write")
    pool.submit(int).result()
    return pool
