"""Helpers for the mailbox-server tests: configs, ports, report messages, servers, sinks.

Everything listens on 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import email
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from stopit_mail.app import App, init_installation, open_app
from stopit_mail.server import MailServer

SERVER_CMD = [sys.executable, "-c", "from stopit_mail.cli import main; main()"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def set_option(config: Path, section: str, key: str, value: str) -> None:
    """Replace `key = ...` inside `[section]` of a stopit.toml (value is TOML text)."""
    text = config.read_text(encoding="utf-8")
    pattern = re.compile(rf"(^\[{re.escape(section)}\]\n(?:(?!^\[).*\n)*?){re.escape(key)} = .*$", re.M)
    new, count = pattern.subn(lambda m: f"{m.group(1)}{key} = {value}", text)
    assert count == 1, f"{section}.{key} not found in {config}"
    config.write_text(new, encoding="utf-8")


def make_config(folder: Path, database_url: str = "", **options: dict[str, str]) -> Path:
    """A fresh installation; `options` maps a section to {key: TOML value}.

    The web door is off unless asked for: these are mail-server tests, and `stopit serve` would
    otherwise also need the fixed port 8080 free (tests/test_web.py covers the door).
    """
    config = init_installation(folder, "Example University", "stopit@example.edu", database_url)
    set_option(config, "web", "enabled", "false")
    for section, values in options.items():
        for key, value in values.items():
            set_option(config, section, key, value)
    return config


def report_message(number: int, sender: str | None = None, size_padding: int = 0) -> bytes:
    """A simple new report with its own reporter and distinct offending content (one case each)."""
    sender = sender or f"reporter{number}@example.org"
    padding = ("x" * 70 + "\r\n") * (size_padding // 72)
    return (
        f"From: Reporter {number} <{sender}>\r\n"
        f"To: stopit@example.edu\r\n"
        f"Subject: Fw: message number {number}\r\n"
        f"Date: Tue, 17 Nov 2026 18:03:10 -0500\r\n"
        f"Message-ID: <report-{number}-{time.time_ns()}@example.org>\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Please help, report number {number}.\r\n\r\n"
        f"________________________________\r\n"
        f"From: Bully {number} <bully{number}@webmail.example>\r\n"
        f"Sent: Tuesday, November 17, 2026 5:58 PM\r\n"
        f"To: Reporter {number} <{sender}>\r\n"
        f"Subject: threat {number}\r\n\r\n"
        f"Offending text number {number}: you will regret it ({number * 7919}).\r\n"
        f"{padding}"
    ).encode()


@contextmanager
def running_server(app: App, **kwargs: Any) -> Iterator[MailServer]:
    """An in-process MailServer on a free port of 127.0.0.1 (no worker unless asked)."""
    kwargs.setdefault("run_worker", False)
    server = MailServer(app, host="127.0.0.1", port=0, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop(timeout=10)


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


def start_server_process(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`stopit -c CONFIG serve` as a subprocess (so it can be killed for real)."""
    with open(log, "ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([*SERVER_CMD, "-c", str(config), "serve", *args],
                                stdout=handle, stderr=subprocess.STDOUT)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM and wait (SIGKILL as a last resort); the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return int(proc.returncode)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll `condition` until true or `timeout` seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


class CaptureHandler:
    """An aiosmtpd handler that keeps every message it receives (a remote mail server)."""

    def __init__(self, reply: Callable[[Envelope], None] | None = None) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.lock = threading.Lock()
        self.reply = reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self.lock:
            self.messages.append((envelope.mail_from or "", list(envelope.rcpt_tos), content))
        if self.reply is not None:
            # Answer from a thread: the reply talks SMTP to another server and must not block us.
            threading.Thread(target=self.reply, args=(envelope,), daemon=True).start()
        return "250 2.0.0 OK"

    def parsed(self) -> list[email.message.Message]:
        """The received messages, parsed."""
        with self.lock:
            return [email.message_from_bytes(content) for _, _, content in self.messages]


@contextmanager
def capture_server(handler: CaptureHandler, port: int = 0) -> Iterator[int]:
    """Run `handler` on 127.0.0.1; yields the port."""
    controller = Controller(handler, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    try:
        yield int(controller.port)
    finally:
        controller.stop()


def open_fresh(config: Path) -> App:
    """A new App (new engine) on an installation, to read what really is committed."""
    return open_app(config, migrate=False)


def new_msgid() -> str:
    """A Message-ID for test messages."""
    return make_msgid(domain="example.org")
