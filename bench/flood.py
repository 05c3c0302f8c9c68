"""An emergency in a flood: is it paged within 5 s of its 250, and does the listener keep up?

Starts the real server (`stopit serve`, a separate process) on 127.0.0.1 with an escalation
chain, floods it with N ordinary reports from C clients (this process, asyncio), sends one
self-harm report when half the flood is in, and prints:

- the page's delay: from the self-harm report's 250 to the page's delivery (Maildir), goal < 5 s;
- the backlog (messages stored, not yet processed) at that 250;
- the accept rate with the worker running against `--no-worker` in the same run (goal >= 80%),
  flooding only once the workers have started (model loaded, first heartbeat written): a flood
  meets a running service, and a worker still starting competes less than a running one;
- CPU during each flood: the listener's per accepted message, the workers' and the clients';
- p99 accept latency (DATA sent to 250 read);
- with `--pg URL` (a PostgreSQL server; a fresh database is created per run): the same on
  PostgreSQL, and how 2 workers scale against 1, measured two ways:
  * during the flood (`serve` plus one `stopit worker`), messages processed per second while the
    listener and the clients compete for the same cores: what an installation under a flood gets;
  * on a pre-stored backlog (the --no-worker flood's messages, and a copy of that database),
    drained by 1 and by 2 worker processes with the listener stopped, for `--drain-seconds`
    each: the workers' own scaling (goal >= 1.7x), with CPU per message in the workers and in
    PostgreSQL, and what PostgreSQL's active backends were doing (sampled from
    pg_stat_activity: on CPU, waiting for a lock, for I/O).
  The load average is printed beside each figure: the ratios are only comparable within a run.

The flood is sent in `--rounds` rounds that alternate between the installations (the backlog of
each grows from round to round, to N), so a change in the load of other programs on the machine
weighs on the --no-worker and the --worker figures alike.

    python bench/flood.py [--messages 20000] [--clients 32] [--rounds 5] [--pg postgresql://...]
                          [--drain-seconds 90] [--skip-sqlite] [--worker-nice N] [--flood-nice N,M...]

`--flood-nice 0,19` floods one installation with the worker per value of `server.flood_nice`
(the niceness of the thread computing ordinary messages during a flood), in the same alternating
rounds, each with its own self-harm report: the settings compared within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
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

from flood_workers import (  # noqa: E402 - bench/ is this script's folder, first on sys.path
    _children,
    _cpu_seconds,
    backlog_scaling,
    drain_line,
    drop_pg_databases,
    fresh_pg_database,
    start,
    wait_workers,
)

from stopit_mail.app import init_installation, open_app  # noqa: E402
from stopit_mail.models import (  # noqa: E402
    OutboxMessage,
    OutboxStatus,
    RawMessage,
    RawStatus,
    Report,
)

CHAIN = ('\n[[organisations.escalation.business_chain]]\ncontact = "primary"\n'
         'addresses = ["oncall@example.edu"]\nwait_minutes = 10\n')
SELF_HARM = (b"From: Sam <sam@example.org>\r\nTo: stopit@example.edu\r\nSubject: please read\r\n"
             b"Message-ID: <flood-%s@example.org>\r\n\r\nI can't go on. I am going to kill myself tonight.\r\n")


WORKER_NICE: int | None = None  # --worker-nice: the worker child's niceness (None: the default config's)


def installation(folder: Path, database_url: str, flood_nice: int | None = None) -> Path:
    config = init_installation(folder, "Flood University", "stopit@example.edu", database_url)
    text = config.read_text().replace('dns = "online"', 'dns = "offline"')
    for key, value in (("worker_nice", WORKER_NICE), ("flood_nice", flood_nice)):
        if value is not None:
            text, count = re.subn(rf"(?m)^{key} = \d+$", f"{key} = {value}", text)
            assert count == 1, f"no {key} in the default config"
    text = text.replace("max_connections_per_peer = 20", "max_connections_per_peer = 1000")
    text = text.replace("max_messages_per_peer_per_minute = 120", "max_messages_per_peer_per_minute = 100000000")
    text = text.replace("acks_per_sender_per_hour = 5", "acks_per_sender_per_hour = 100000")
    config.write_text(text.replace("\n[limits]", CHAIN + "\n[limits]", 1))
    return config


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
    return {"latencies": latencies, "elapsed": elapsed, "errors": errors, "emergency_250": sent.get("at"),
            "message_id": sent.get("message_id")}


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


def triage_model_line(log: Path) -> str:
    """What the server said of its triage model at start (the flood runs with the model on)."""
    for line in log.read_text(errors="replace").splitlines():
        if "TRIAGE MODEL" in line or line.startswith("Triage model:"):
            return line.strip()
    return "triage model loaded (serve names it only when it is unavailable)"


def _processed(config: Path) -> int:
    app = open_app(config, migrate=False)
    try:
        with app.factory() as session:
            return session.scalar(select(func.count(RawMessage.id)).where(
                RawMessage.status != RawStatus.RECEIVED)) or 0
    finally:
        app.close()


def new_installation(folder: Path, pg: str | None, flood_nice: int | None = None) -> dict[str, Any]:
    """A fresh installation in `folder` (on a fresh PostgreSQL database with `pg`) and its port."""
    url = fresh_pg_database(pg) if pg else ""
    config = installation(folder, url, flood_nice)
    port = smtp_bench.free_port()
    config.write_text(config.read_text().replace('listen = "127.0.0.1:8025"', f'listen = "127.0.0.1:{port}"'))
    return {"config": config, "url": url, "port": port, "rounds": []}


def flood_round(setup: dict[str, Any], args: argparse.Namespace, mode: str, messages: int,
                emergency: bool, extra_workers: int = 0) -> None:
    """One round of the flood against `setup`'s installation (`serve` with or without its worker,
    plus `extra_workers` separate `stopit worker` processes at the worker's niceness); the
    messages of earlier rounds are still there, so the backlog grows from round to round."""
    config, port = setup["config"], setup["port"]
    folder = config.parent
    server = start(config, folder / "serve.log", "serve", mode)
    nice = 5 if WORKER_NICE is None else WORKER_NICE
    extras = [start(config, folder / f"worker{i}.log", "worker", niceness=nice) for i in range(extra_workers)]
    try:
        wait_port(port)
        if mode == "--worker" or extras:
            # A flood meets a running service: the workers have loaded the model and beat once.
            wait_workers(config, (mode == "--worker") + len(extras))
        processes = [server.pid, *_children(server.pid), *(p.pid for p in extras)]
        before = {pid: _cpu_seconds(pid) for pid in processes}
        done_before = _processed(config)
        clients_before = time.process_time()
        result = asyncio.run(_flood(port, args.clients, messages, emergency))
        result["clients_cpu"] = time.process_time() - clients_before
        spent = [_cpu_seconds(pid) - before[pid] for pid in processes]
        result["listener_cpu"], result["workers_cpu"] = spent[0], sum(spent[1:])
        result["processed"] = _processed(config) - done_before
        result["load"] = os.getloadavg()[0]
        if result["emergency_250"]:
            setup["delay"], setup["backlog"], setup["other_pages"] = page_delay(
                config, result["emergency_250"], result["message_id"])
    finally:
        for proc in [server, *extras]:
            proc.terminate()
            proc.wait(60)
    if mode == "--worker":
        setup["model"] = triage_model_line(folder / "serve.log")
    setup["rounds"].append(result)


def totals(setup: dict[str, Any]) -> dict[str, Any]:
    """The rounds of one installation added up: rates over their summed durations."""
    rounds = setup["rounds"]
    elapsed = sum(r["elapsed"] for r in rounds)
    latencies = sorted(x for r in rounds for x in r["latencies"])
    accepted = len(latencies)
    return {
        "rate": accepted / elapsed, "p99_ms": latencies[int(accepted * 0.99) - 1] * 1000,
        "errors": sum(r["errors"] for r in rounds), "processed_rate": sum(r["processed"] for r in rounds) / elapsed,
        "load": f"{min(r['load'] for r in rounds):.1f}-{max(r['load'] for r in rounds):.1f}",
        "cpu": (f"CPU during the flood: listener {sum(r['listener_cpu'] for r in rounds) / accepted * 1000:.2f} ms "
                f"per message, workers {sum(r['workers_cpu'] for r in rounds) / elapsed:.2f} cores, "
                f"clients {sum(r['clients_cpu'] for r in rounds) / elapsed:.2f} cores"),
    }


def one_database(label: str, args: argparse.Namespace, pg: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="stopit-flood-") as tmp:
        root = Path(tmp)
        setups = {"base": new_installation(root / "no-worker", pg)}
        nices = args.flood_nice or [None]
        busy_names = ["busy" if nice is None else f"busy{nice}" for nice in nices]
        for name, nice in zip(busy_names, nices, strict=True):
            setups[name] = new_installation(root / f"worker-{name}", pg, nice)
        if pg:
            setups["both"] = new_installation(root / "workers2", pg)
        # Rounds alternate between the installations, so a change in the machine's other load
        # weighs on each alike; the emergency goes midway through the middle round.
        per_round = args.messages // args.rounds
        for number in range(args.rounds):
            flood_round(setups["base"], args, "--no-worker", per_round, False)
            for name in busy_names:
                flood_round(setups[name], args, "--worker", per_round, number == args.rounds // 2)
            if pg:
                flood_round(setups["both"], args, "--worker", per_round, False, extra_workers=1)
        drains = backlog_scaling(root, pg, setups["base"], args.drain_seconds) if pg else None
    base = totals(setups["base"])
    print(f"== {label}: {per_round * args.rounds} ordinary reports from {args.clients} clients in {args.rounds} "
          f"alternating rounds, one self-harm report midway, worker_nice "
          f"{'as configured' if WORKER_NICE is None else WORKER_NICE}")
    print(f"worker's {setups[busy_names[0]].get('model')}")
    print(f"accept rate --no-worker: {base['rate']:8.1f} msg/s   p99 {base['p99_ms']:7.1f} ms   errors {base['errors']}"
          f"   load {base['load']}\n    {base['cpu']}")
    for name, nice in zip(busy_names, nices, strict=True):
        busy = totals(setups[name])
        print(f"-- flood_nice {'as configured' if nice is None else nice}:")
        print(f"accept rate with worker: {busy['rate']:8.1f} msg/s   p99 {busy['p99_ms']:7.1f} ms   "
              f"errors {busy['errors']}   load {busy['load']}\n    {busy['cpu']}")
        print(f"accept rate share:       {busy['rate'] / base['rate']:8.0%}  (goal >= 80%)")
        delay = setups[name].get("delay")
        print(f"page delay after its 250: {'NOT PAGED' if delay is None else f'{delay:.2f} s'}  (goal < 5 s), "
              f"backlog at that 250: {setups[name].get('backlog')}; cases of ordinary reports paged meanwhile: "
              f"{setups[name].get('other_pages')}")
    busy = totals(setups[busy_names[0]])
    if pg:
        both = totals(setups["both"])
        one, two = busy["processed_rate"], both["processed_rate"]
        print(f"processed during the flood (the listener and the clients on the same cores; serve's worker, "
              f"then with one `stopit worker` beside it, which the listener does not wake; both keep to a small share of "
              f"a core while the flood lasts, so this measures the pacing, and the backlog below the scaling): "
              f"1 worker {one:.1f} msg/s, 2 workers {two:.1f} msg/s: "
              f"{two / one:.2f}x; accept rate with 2 workers {both['rate']:.1f} msg/s ({both['rate'] / base['rate']:.0%}), "
              f"load {both['load']}")
    if drains is not None:
        one_drain, two_drain = drains
        per_message = ((two_drain["worker_ms"] + two_drain["backend_ms"])
                       / (one_drain["worker_ms"] + one_drain["backend_ms"]))
        print(f"pre-stored backlog, listener stopped: 2 workers against 1: "
              f"{two_drain['rate'] / one_drain['rate']:.2f}x (goal >= 1.7x); CPU per message 2 against 1: "
              f"{per_message:.2f}x (1.00: no contention, the rate follows the cores the machine gave them: "
              f"{two_drain['cores'] / one_drain['cores']:.2f}x)")
        print(drain_line(1, one_drain))
        print(drain_line(2, two_drain))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--pg", help="PostgreSQL server URL (a fresh database is created per run, dropped after)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds the flood is sent in, alternating between the installations")
    parser.add_argument("--drain-seconds", type=float, default=90,
                        help="how long 1, then 2, workers process the backlog for the scaling ratio")
    parser.add_argument("--skip-sqlite", action="store_true", help="only the PostgreSQL runs")
    parser.add_argument("--worker-nice", type=int,
                        help="server.worker_nice of the runs (0: the worker at the listener's priority)")
    parser.add_argument("--flood-nice", type=lambda text: [int(v) for v in text.split(",")],
                        help="server.flood_nice values compared in the same run, comma-separated (0: off)")
    args = parser.parse_args()
    global WORKER_NICE
    WORKER_NICE = args.worker_nice
    if not args.skip_sqlite:
        one_database("SQLite", args, None)
    if args.pg:
        try:
            one_database("PostgreSQL", args, args.pg)
        finally:
            drop_pg_databases(args.pg)


if __name__ == "__main__":
    main()
