"""`stopit serve`'s worker as a child process: its own interpreter, a memory cap, restarted if it dies.

Running the worker in the listener's process makes the two share one interpreter lock: under a
flood every millisecond of processing is taken from accepting mail. As a child process the
worker runs on the other core, and a message that exhausts memory (it runs under
`limits.worker_memory_mb`) or crashes the interpreter takes down only the child: the
supervisor starts a new one, the attempt was counted when the message was claimed, and after
`limits.max_attempts` the message is quarantined while everything else keeps flowing.

The listener wakes the child by writing a byte to its standard input after each stored
message; end of input (the parent died) stops the child.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)
RESTART_PAUSE_SECONDS = 1.0


class WorkerProcess:
    """Start, wake, supervise and stop one `stopit worker --supervised` child."""

    def __init__(self, config_path: str | Path) -> None:
        self.config_path = str(config_path)
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="stopit-worker-supervisor", daemon=True)

    def start(self) -> None:
        """Start the child and the thread that restarts it when it dies."""
        self._spawn()
        self._supervisor.start()

    def _spawn(self) -> None:
        with self._lock:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "stopit_mail", "-c", self.config_path, "worker", "--supervised"],
                stdin=subprocess.PIPE)

    def wake(self) -> None:
        """Tell the child a message was stored (never blocks the listener for long)."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.poll() is not None:
                return
            try:
                proc.stdin.write(b"\n")
                proc.stdin.flush()
            except OSError:
                pass  # the child is dying; the supervisor restarts it

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            proc = self._proc
            if proc is not None and proc.poll() is not None and not self._stopping.is_set():
                log.error("the worker process exited with status %s; starting a new one", proc.returncode)
                self.restarts += 1
                _close_input(proc)  # the dead child's pipe, or it leaks one descriptor per restart
                time.sleep(RESTART_PAUSE_SECONDS)
                if not self._stopping.is_set():
                    self._spawn()
            self._stopping.wait(0.5)

    def alive(self) -> bool:
        """Whether the supervisor runs (a dead child is restarted, so it does not count)."""
        return self._supervisor.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Close the child's input (it finishes the message in hand and exits), then wait."""
        self._stopping.set()
        with self._lock:
            proc = self._proc
        if proc is None:
            return
        _close_input(proc)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _close_input(proc: subprocess.Popen[bytes]) -> None:
    """Close our end of the child's standard input (to a live child: end of input, it stops)."""
    if proc.stdin is not None:
        try:
            proc.stdin.close()
        except OSError:
            pass
