"""An emergency in a flood: is it paged within 5 s of its 250, and does the listener keep up?

Starts the real server (`stopit serve`, a separate process) on 127.0.0.1 with an escalation
chain, floods it with N ordinary reports from C clients (this process, asyncio), sends one
self-harm report when half the flood is in, and prints:

- the page's delay: from the self-harm report's 250 to the page's delivery (Maildir), goal < 5 s;
- the backlog (messages stored, not yet processed) at that 250;
- the accept rate with the worker running against `--no-worker` in the same run (goal >= 80%);
- p99 accept latency (DATA sent to 250 read);
- with `--pg URL` (a PostgreSQL server; a fresh database is created per run): the same on
  PostgreSQL, and the processing rate with 1 and with 2 workers over the same backlog for
  `--drain-seconds` each (scaling ratio, goal >= 1.7x).

    python bench/flood.py [--messages 20000] [--clients 32] [--pg postgresql://...] [--skip-sqlite]
                          [--worker-nice N]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import re
import sys
import tempfile
import time
import uuid
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("bench_smtp", ROOT / "bench" / "smtp.py")
assert _spec is not None and _spec.loader is not None
smtp_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(smtp_bench)

from stopit_mail.app import init_installation, open_app  # noqa: E402
from stopit_mail.models import OutboxMessage, OutboxStatus, RawMessage, RawStatus, Report  # noqa: E402

CHAIN = ('\n[[organisations.escalation.business_chain]]\ncontact = "primary"\n'
         'addresses = ["oncall@example.edu"]\nwait_minutes = 10\n')
SELF_HARM = (b"From: Sam <sam@example.org>\r\nTo: stopit@example.edu\r\nSubject: please read\r\n"
             b"Message-ID: <flood-%s@example.org>\r\n\r\nI can't go on. I am going to kill myself tonight.\r\n")


WORKER_NICE: int | None = None  # --worker-nice: the worker child's niceness (None: the default config's)


def installation(folder: Path, database_url: str) -> Path:
    config = init_installation(folder, "Flood University", "stopit@example.edu", database_url)
    text = config.read_text().replace('dns = "online"', 'dns = "offline"')
    if WORKER_NICE is not None:
        text, count = re.subn(r"(?m)^worker_nice = \d+$", f"worker_nice = {WORKER_NICE}", text)
        assert count == 1, "no worker_nice in the default config"
    text = text.replace("max_connections_per_peer = 20", "max_connections_per_peer = 1000")
    text = text.replace("max_messages_per_peer_per_minute = 120", "max_messages_per_peer_per_minute = 100000000")
    text = text.replace("acks_per_sender_per_hour = 5", "acks_per_sender_per_hour = 100000")
    config.write_text(text.replace("\n[limits]", CHAIN + "\n[limits]", 1))
    return config


_CREATED: list[str] = []


def fresh_pg_database(url: str) -> str:
    import psycopg

    name = f"stopit_flood_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _CREATED.append(name)
    return url.rsplit("/", 1)[0] + "/" + name


def drop_pg_databases(url: str) -> None:
    """Drop the databases this run created (the server is shared)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        for name in _CREATED:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start(config: Path, log: Path, *args: str) -> Any:
    import subprocess

    with open(log, "ab") as handle:
        return subprocess.Popen([sys.executable, "-m", "stopit_mail", "-c", str(config), *args],
                                stdout=handle, stderr=subprocess.STDOUT)


def wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"server did not listen on {port}")


async def _emergency(port: int, at: asyncio.Event, sent: dict[str, float]) -> None:
    await at.wait()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await smtp_bench._expect(reader, 220)
    for line, code in ((b"EHLO flood.example.org\r\n", 250), (b"MAIL FROM:<sam@example.org>\r\n", 250),
                       (b"RCPT TO:<stopit@example.edu>\r\n", 250), (b"DATA\r\n", 354)):
        writer.write(line)
        await smtp_bench._expect(reader, code)
    token = uuid.uuid4().hex
    writer.write(SELF_HARM % token.encode() + b".\r\n")
    await smtp_bench._expect(reader, 250)
    sent["at"] = time.time()
    sent["message_id"] = f"<flood-{token}@example.org>"
    writer.close()


async def _flood(port: int, clients: int, total: int, with_emergency: bool) -> dict[str, Any]:
    per_client = max(1, total // clients)
    latencies: list[float] = []
    go, half = asyncio.Event(), asyncio.Event()
    sent: dict[str, float] = {}
    run = uuid.uuid4().hex[:8]
    tasks = [asyncio.create_task(smtp_bench._client(port, run, c, per_client, 3000, go, latencies))
             for c in range(clients)]
    extra = asyncio.create_task(_emergency(port, half, sent)) if with_emergency else None
    await asyncio.sleep(0.3)
    began = time.perf_counter()
    go.set()
    while not all(t.done() for t in tasks):
        if len(latencies) >= per_client * clients // 2:
            half.set()
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - began
    errors = sum(t.result() for t in tasks)
    if extra is not None:
        half.set()
        await extra
    latencies.sort()
    return {"rate": len(latencies) / elapsed, "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "errors": errors, "emergency_250": sent.get("at"), "message_id": sent.get("message_id")}


def page_delay(config: Path, accepted_at: float, message_id: str,
               timeout: float = 600) -> tuple[float | None, int, int]:
    """Seconds from the emergency's 250 to the delivery of *its* page, the backlog at that 250,
    and how many other pages went out (ordinary flood reports the triage took for emergencies)."""
    app = open_app(config, migrate=False)
    try:
        deadline = time.monotonic() + timeout
        raw_id, sent = None, None
        while time.monotonic() < deadline:
            with app.factory() as session:
                raw_id = raw_id or session.scalar(select(RawMessage.id).where(RawMessage.message_id == message_id))
                if raw_id is not None:
                    case_id = select(Report.case_id).where(Report.raw_message_id == raw_id).scalar_subquery()
                    sent = session.scalar(select(OutboxMessage.sent_at).where(
                        OutboxMessage.kind == "page", OutboxMessage.status == OutboxStatus.SENT,
                        OutboxMessage.case_id == case_id))
            if sent is not None:
                break
            time.sleep(0.05)
        with app.factory() as session:
            arrived = session.scalar(select(RawMessage.received_at).where(RawMessage.id == raw_id))
            backlog = session.scalar(select(func.count(RawMessage.id)).where(
                RawMessage.received_at <= arrived,
                (RawMessage.status == RawStatus.RECEIVED) | (RawMessage.processed_at > arrived))) or 0
            pages = session.scalar(select(func.count(func.distinct(OutboxMessage.case_id))).where(
                OutboxMessage.kind == "page")) or 0
        if sent is None:
            return None, backlog, pages
        when = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
        return when.timestamp() - accepted_at, backlog, max(pages - 1, 0)
    finally:
        app.close()


def _waiting(app: Any) -> int:
    with app.factory() as session:
        return session.scalar(select(func.count(RawMessage.id)).where(RawMessage.status == RawStatus.RECEIVED)) or 0


def processing_rate(config: Path, folder: Path, workers: int, seconds: float) -> float:
    """Messages per second while `workers` worker processes work on the waiting queue for
    `seconds` (after their start-up: timed from the first message they finish)."""
    app = open_app(config, migrate=False)
    try:
        waiting = _waiting(app)
        procs = [start(config, folder / f"worker{i}.log", "worker") for i in range(workers)]
        while _waiting(app) == waiting:
            time.sleep(0.2)
        began, first = time.monotonic(), _waiting(app)
        left = first
        while left and time.monotonic() - began < seconds:
            time.sleep(0.5)
            left = _waiting(app)
        elapsed = time.monotonic() - began
        for proc in procs:
            proc.terminate()
            proc.wait(60)
        return (first - left) / elapsed
    finally:
        app.close()


def triage_model_line(log: Path) -> str:
    """What the server said of its triage model at start (the flood runs with the model on)."""
    for line in log.read_text(errors="replace").splitlines():
        if "TRIAGE MODEL" in line or line.startswith("Triage model:"):
            return line.strip()
    return "triage model loaded (serve names it only when it is unavailable)"


def one_database(label: str, database_url: str, args: argparse.Namespace, pg: str | None) -> None:
    figures: dict[str, dict[str, Any]] = {}
    for mode in ("--no-worker", "--worker"):
        with tempfile.TemporaryDirectory(prefix="stopit-flood-") as tmp:
            folder = Path(tmp)
            url = fresh_pg_database(pg) if pg else database_url
            config = installation(folder, url)
            port = smtp_bench.free_port()
            config.write_text(config.read_text().replace('listen = "127.0.0.1:8025"', f'listen = "127.0.0.1:{port}"'))
            server = start(config, folder / "serve.log", "serve", mode)
            try:
                wait_port(port)
                result = asyncio.run(_flood(port, args.clients, args.messages, mode == "--worker"))
                if mode == "--worker" and result["emergency_250"]:
                    result["delay"], result["backlog"], result["other_pages"] = page_delay(
                        config, result["emergency_250"], result["message_id"])
            finally:
                server.terminate()
                server.wait(60)
            if mode == "--worker":
                result["model"] = triage_model_line(folder / "serve.log")
            if pg and mode == "--no-worker":
                result["rate_1_worker"] = processing_rate(config, folder, 1, args.drain_seconds)
            figures[mode] = result
        if pg and mode == "--no-worker":
            # Two workers on a second, identical backlog.
            with tempfile.TemporaryDirectory(prefix="stopit-flood-") as tmp:
                folder = Path(tmp)
                config = installation(folder, fresh_pg_database(pg))
                port = smtp_bench.free_port()
                config.write_text(config.read_text().replace('listen = "127.0.0.1:8025"',
                                                             f'listen = "127.0.0.1:{port}"'))
                server = start(config, folder / "serve.log", "serve", "--no-worker")
                try:
                    wait_port(port)
                    asyncio.run(_flood(port, args.clients, args.messages, False))
                finally:
                    server.terminate()
                    server.wait(60)
                figures[mode]["rate_2_workers"] = processing_rate(config, folder, 2, args.drain_seconds)
    base, busy = figures["--no-worker"], figures["--worker"]
    print(f"== {label}: {args.messages} ordinary reports from {args.clients} clients, one self-harm report midway, "
          f"worker_nice {'as configured' if WORKER_NICE is None else WORKER_NICE}")
    print(f"worker's {busy.get('model')}")
    print(f"accept rate --no-worker: {base['rate']:8.1f} msg/s   p99 {base['p99_ms']:7.1f} ms   errors {base['errors']}")
    print(f"accept rate with worker: {busy['rate']:8.1f} msg/s   p99 {busy['p99_ms']:7.1f} ms   errors {busy['errors']}")
    print(f"accept rate share:       {busy['rate'] / base['rate']:8.0%}  (goal >= 80%)")
    delay = busy.get("delay")
    print(f"page delay after its 250: {'NOT PAGED' if delay is None else f'{delay:.2f} s'}  (goal < 5 s), "
          f"backlog at that 250: {busy.get('backlog')}; cases of ordinary reports paged meanwhile: "
          f"{busy.get('other_pages')}")
    if "rate_2_workers" in base:
        one, two = base["rate_1_worker"], base["rate_2_workers"]
        print(f"processing rate: 1 worker {one:.1f} msg/s, 2 workers {two:.1f} msg/s, "
              f"scaling {two / one:.2f}x (goal >= 1.7x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--pg", help="PostgreSQL server URL (a fresh database is created per run, dropped after)")
    parser.add_argument("--drain-seconds", type=float, default=90,
                        help="how long 1, then 2, workers process the backlog for the scaling ratio")
    parser.add_argument("--skip-sqlite", action="store_true", help="only the PostgreSQL runs")
    parser.add_argument("--worker-nice", type=int,
                        help="server.worker_nice of the runs (0: the worker at the listener's priority)")
    args = parser.parse_args()
    global WORKER_NICE
    WORKER_NICE = args.worker_nice
    if not args.skip_sqlite:
        one_database("SQLite", "", args, None)
    if args.pg:
        try:
            one_database("PostgreSQL", "", args, args.pg)
        finally:
            drop_pg_databases(args.pg)


if __name__ == "__main__":
    main()
