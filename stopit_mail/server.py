"""`stopit serve` and `stopit worker` put together: listener, worker, signals, queue status.

`MailServer` runs the listener on its own asyncio event loop in a thread and, when asked, the
worker in another thread, so the same object serves the command line (blocking until SIGTERM
or SIGINT), the tests and the benchmark (started and stopped in-process).

Shutdown is orderly: stop listening, let every DATA already being stored finish its commit
and get its 250, tell idle clients 421, then let the worker finish the message in hand.
Nothing half-done is lost either way: the database is the only state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from stopit_mail.api.server import start_api
from stopit_mail.app import App
from stopit_mail.cases.pretriage import prioritiser
from stopit_mail.config import split_host_port
from stopit_mail.ingest.atrest import AtRest
from stopit_mail.ingest.groupcommit import GroupCommitSink
from stopit_mail.ingest.listener import (
    SHUTTING_DOWN,
    MailboxHandler,
    RawSink,
    make_limits,
    protocol_factory,
)
from stopit_mail.ingest.rawstore import StoreResult
from stopit_mail.outbound.delivery import transport_for
from stopit_mail.processing.flood_probe import StoredRate
from stopit_mail.processing.watchdog import alert_if_unhealthy
from stopit_mail.processing.worker import FLOOD_WAKES_PER_SECOND, Worker
from stopit_mail.queues import queue_status  # noqa: F401  (re-exported: it used to live here)
from stopit_mail.web.server import WebServer
from stopit_mail.worker_process import WorkerProcess

log = logging.getLogger(__name__)

# Under load the listener's event loop keeps the GIL busy, while the group-commit writer and
# the worker release it around every SQLite call. With CPython's default 5 ms switch interval
# each re-acquisition can wait a whole interval (the "convoy effect"), so one commit costs
# several of them (bench/smtp.py at 32 clients: about 900 instead of 1,300 messages/s in one
# paired run). A 0.5 ms interval keeps commits prompt for a little extra switching.
SWITCH_INTERVAL_SECONDS = 0.0005
# How often the watchdog looks at the worker's heartbeat and the waiting queue.
WATCHDOG_SECONDS = 15.0


def tune_interpreter() -> None:
    """Process-wide tuning for a serving process (see SWITCH_INTERVAL_SECONDS)."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


class MailServer:
    """The listener (event loop thread) and optionally the worker (thread) of one installation."""

    def __init__(self, app: App, run_worker: bool | None = None, sink: RawSink | None = None,
                 host: str | None = None, port: int | None = None, worker_idle_seconds: float = 1.0,
                 watchdog_seconds: float = WATCHDOG_SECONDS, worker_process: WorkerProcess | None = None) -> None:
        self.app = app
        settings = app.settings
        default_host, default_port = split_host_port(settings.server.listen, 8025)
        self.host = host or default_host
        self.port = default_port if port is None else port  # 0: any free port (tests)
        casework = settings.casework
        self.sink = sink or GroupCommitSink(
            app.engine, settings.limits.max_message_bytes,
            prioritise=prioritiser(casework.triage_rules, casework.disabled_triage_rules), at_rest=AtRest(settings))
        run = settings.server.run_worker if run_worker is None else run_worker
        # A worker child process (serve) or, in tests and benchmarks, a worker thread.
        self.worker_process = worker_process if run else None
        self.worker = Worker(app, idle_seconds=worker_idle_seconds) if run and worker_process is None else None
        self.limits = make_limits(settings)
        self.watchdog_seconds = watchdog_seconds
        self._watching = threading.Event()
        self.stored = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and start serving; raises OSError when the address cannot be bound."""
        thread = threading.Thread(target=self._loop_main, name="stopit-listener", daemon=True)
        thread.start()
        self._ready.wait()
        if self._error is not None:
            thread.join()
            raise self._error
        self._threads.append(thread)
        if self.worker is not None:
            worker_thread = threading.Thread(target=self.worker.run, name="stopit-worker", daemon=True)
            worker_thread.start()
            self._threads.append(worker_thread)
        if self.worker_process is not None:
            self.worker_process.start()
        if self.watchdog_seconds > 0:
            threading.Thread(target=self._watch, name="stopit-watchdog", daemon=True).start()
        log.info("listening on %s:%s (%s)%s", self.host, self.port, self.app.settings.server.protocol,
                 ", worker running" if self.worker or self.worker_process else "")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, finish in-flight stores and the worker's message, then return."""
        loop = self._loop
        if loop is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(timeout), loop)
            try:
                future.result(timeout + 5)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        self._watching.set()
        if self.worker is not None:
            self.worker.stop()
        if self.worker_process is not None:
            self.worker_process.stop(timeout)
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        close = getattr(self.sink, "close", None)
        if callable(close):
            close()

    def alive(self) -> bool:
        """Whether every thread is still running (a dead one means the service is broken)."""
        child = self.worker_process is None or self.worker_process.alive()
        return child and all(thread.is_alive() for thread in self._threads)

    def _watch(self) -> None:
        """Alert the mailbox and the chain's first contact when no worker makes progress."""
        transport = transport_for(self.app.settings)
        while not self._watching.wait(self.watchdog_seconds):
            try:
                alert_if_unhealthy(self.app.factory, self.app.settings, transport)
            except Exception:  # noqa: BLE001 - the watchdog must outlive what it watches
                log.exception("watchdog check failed")

    def _on_stored(self, result: StoreResult) -> None:
        self.stored += 1
        if self.worker is not None:
            self.worker.wake()
        elif self.worker_process is not None:
            self.worker_process.wake()

    def _loop_main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        settings = self.app.settings
        handler = MailboxHandler(settings, self.sink, self.limits, settings.server.protocol, self._on_stored)
        try:
            make = protocol_factory(settings, handler, self.limits, loop)
            self._server = loop.run_until_complete(
                loop.create_server(make, self.host, self.port, reuse_address=True))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # noqa: BLE001 - handed to start() in the caller's thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self, timeout: float) -> None:
        assert self._server is not None
        self._server.close()
        deadline = time.monotonic() + timeout
        # A client whose message is being committed gets its 250 before we hang up on it.
        while self.limits.stores_in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for session in list(self.limits.open_sessions):
            transport = session.transport
            if transport is not None and not transport.is_closing():
                transport.write(SHUTTING_DOWN.encode() + b"\r\n")
                transport.close()
        try:
            await asyncio.wait_for(self._server.wait_closed(), 5)
        except TimeoutError:
            log.warning("some connections did not close in time")
        # Let aiosmtpd's per-connection coroutines see their cancellation before the loop stops.
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class StopSignals:
    """SIGTERM/SIGINT caught from *before* anything listens, so a stop that arrives while the
    listener, web door or API are still starting is a clean stop, not a kill (monitoring and
    tests connect the moment the port opens). SIGHUP is ignored until the staff API, if any,
    installs its reload handler: `systemctl reload` must never end the mailbox."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reason: list[str] = []
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        self._previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.reason.append(signal.Signals(signum).name)
        self.stop.set()

    def wait(self, is_alive: Callable[[], bool]) -> str:
        """Block until a stop signal (or a service thread dies); return why. The caller restores the
        handlers once everything has stopped (a SIGHUP during shutdown must not end it either)."""
        while not self.stop.wait(0.5):
            if not is_alive():
                return "a service thread died"
        return self.reason[0] if self.reason else "stopped"

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def serve(app: App, run_worker: bool | None = None, config_path: str | None = None) -> int:
    """Run the listener (and worker, and the web door) until SIGTERM/SIGINT; the exit status (0 when clean).

    With `config_path` the worker runs as a supervised child process (see worker_process.py).
    """
    tune_interpreter()
    signals = StopSignals()
    try:
        return _serve(app, run_worker, config_path, signals)
    finally:
        signals.restore()


def _serve(app: App, run_worker: bool | None, config_path: str | None, signals: StopSignals) -> int:
    child = WorkerProcess(config_path) if config_path else None
    server = MailServer(app, run_worker, worker_process=child)
    server.start()  # logs "listening on host:port"
    web: WebServer | None = None
    if app.settings.web.enabled:
        web = WebServer(app, on_stored=server.worker.wake if server.worker else None)
        try:
            web.start()
        except OSError:
            server.stop()
            raise
    # The staff API (docs/api.md): a failure to start it is logged, never a reason to stop mail.
    # With no API, SIGHUP stays ignored (StopSignals), so `systemctl reload` leaves the mailbox up.
    api = start_api(app, config_path)
    why = signals.wait(lambda: server.alive() and (web is None or web.alive()))
    log.info("shutting down: %s", why)
    if api is not None:
        api.stop()
    if web is not None:
        web.stop()
    server.stop()
    return 0 if why in ("SIGTERM", "SIGINT") else 1


def run_worker(app: App, once: bool = False, supervised: bool = False) -> int:
    """Run only the worker until SIGTERM/SIGINT (or, with `once`, until nothing is left).

    `supervised`: a child of `serve`, under the memory cap, woken by lines on standard input and
    stopped by its end (so it never outlives the listener). Its caller lowers its priority first
    (`lower_priority`).
    """
    worker = separate_worker(app, supervised)
    if once:
        while worker.run_once().busy:
            pass
        return 0
    signals = StopSignals()
    try:
        if supervised:
            limit_memory(app.settings.limits.worker_memory_mb)
            threading.Thread(target=_wake_on_input, args=(worker,), name="stopit-wake", daemon=True).start()
        thread = threading.Thread(target=worker.run, name="stopit-worker", daemon=True)
        thread.start()
        why = signals.wait(lambda: thread.is_alive() and not worker.stopping)
        worker.stop()
        thread.join()
    finally:
        signals.restore()
    return 0 if why in ("SIGTERM", "SIGINT") else 1


def separate_worker(app: App, supervised: bool = False) -> Worker:
    """The worker of `stopit worker`. Unless it is serve's child (woken after every stored message),
    the listener does not wake it: it judges a flood from how fast messages are stored, so on the
    listener's host it leaves the CPU to accepting mail as serve's own worker does
    (`server.pace_separate_worker`)."""
    worker = Worker(app)
    worker.exit_on_memory_error = supervised
    if not supervised and app.settings.server.pace_separate_worker:
        worker.flood_probe = StoredRate(app.factory, FLOOD_WAKES_PER_SECOND)
    return worker


def lower_priority(niceness: int) -> None:
    """Run this process at `server.worker_nice` (serve's worker child), so under a flood the
    listener's stores and 250s win the CPU and the worker drains the backlog in the gaps.

    Linux keeps a niceness per thread and a new thread inherits its creator's, so every thread
    already running (a numerical library starts its pool at import) is lowered too.
    """
    if not niceness:
        return
    level = os.nice(niceness)
    tasks = Path("/proc/self/task")
    for tid in (int(name) for name in os.listdir(tasks)) if tasks.is_dir() else ():
        try:
            os.setpriority(os.PRIO_PROCESS, tid, level)
        except OSError:
            pass  # the thread ended meanwhile


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space: a message that needs more fails here, not the machine."""
    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def _wake_on_input(worker: Worker) -> None:
    for _line in sys.stdin.buffer:
        worker.wake()
    worker.stop()  # end of input: the listener is gone


def serve_web(app: App) -> int:
    """Run only the web door until SIGTERM/SIGINT (a separate `stopit worker` processes reports)."""
    signals = StopSignals()
    try:
        web = WebServer(app)
        web.start()
        why = signals.wait(web.alive)
        web.stop()
    finally:
        signals.restore()
    return 0 if why in ("SIGTERM", "SIGINT") else 1
