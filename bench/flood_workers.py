"""Worker processes and PostgreSQL databases for bench/flood.py, and the workers' own scaling.

`backlog_scaling` drains one pre-stored backlog (and a copy of its database) with 1 and with 2
`stopit worker` processes, the listener stopped, and reports messages per second, CPU per message
in the workers and in PostgreSQL's backends, and what those backends were doing (sampled from
pg_stat_activity): whether 2 workers contend, or only share the cores the machine gives them.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from stopit_mail.app import open_app
from stopit_mail.models import RawMessage, RawStatus, WorkerHeartbeat

_CREATED: list[str] = []
# Names of the databases a run creates (on a shared server, a prefix of one's own: STOPIT_FLOOD_DB_PREFIX).
DB_PREFIX = os.environ.get("STOPIT_FLOOD_DB_PREFIX", "stopit_flood_")


def fresh_pg_database(url: str) -> str:
    import psycopg

    name = f"{DB_PREFIX}{uuid.uuid4().hex[:10]}"
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


def start(config: Path, log: Path, *args: str, niceness: int = 0) -> Any:
    import subprocess

    with open(log, "ab") as handle:
        return subprocess.Popen([sys.executable, "-m", "stopit_mail", "-c", str(config), *args],
                                stdout=handle, stderr=subprocess.STDOUT,
                                preexec_fn=(lambda: os.nice(niceness)) if niceness else None)


def _waiting(app: Any) -> int:
    with app.factory() as session:
        return session.scalar(select(func.count(RawMessage.id)).where(RawMessage.status == RawStatus.RECEIVED)) or 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_workers(config: Path, count: int, timeout: float = 180) -> None:
    """Wait until `count` workers have written their heartbeat (start-up done, model loaded)."""
    app = open_app(config, migrate=False)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with app.factory() as session:
                if (session.scalar(select(func.count()).select_from(WorkerHeartbeat)) or 0) >= count:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{count} workers did not start within {timeout} s")
    finally:
        app.close()


def _children(pid: int) -> list[int]:
    """Child processes of `pid` (serve's worker child)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def _pg_backends(app: Any) -> list[int]:
    """PIDs of the PostgreSQL backends serving this database, other than our own (same host)."""
    with app.engine.connect() as connection:
        return list(connection.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")).scalars())


def _pg_waits(app: Any, seen: Counter[str]) -> None:
    """One sample of what the database's active backends are doing (a lock wait, I/O, or on CPU)."""
    with app.engine.connect() as connection:
        for kind, event, count in connection.execute(text(
                "SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, ''), count(*) "
                "FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
                "AND pid <> pg_backend_pid() GROUP BY 1, 2")):
            seen[f"{kind}:{event}" if kind != "CPU" else "CPU"] += count


def processing_rate(config: Path, folder: Path, workers: int, seconds: float) -> dict[str, Any]:
    """Drain the waiting queue with `workers` worker processes (no listener running) for
    `seconds`, timed once all have started and finished a first turn: messages per
    second, CPU per message in the workers and, on PostgreSQL, in its backends, and what the
    backends were doing (sampled: on CPU, waiting for a lock, for I/O...)."""
    app = open_app(config, migrate=False)
    pg = app.engine.dialect.name == "postgresql"
    waits: Counter[str] = Counter()
    try:
        procs = [start(config, folder / f"worker{i}.log", "worker") for i in range(workers)]
        # Timed once every worker has started and done a first turn (a worker still loading its
        # model would count against the pair).
        wait_workers(config, workers)
        backends = _pg_backends(app) if pg else []
        cpu_before = {pid: _cpu_seconds(pid) for pid in [*(p.pid for p in procs), *backends]}
        load = os.getloadavg()[0]
        began, first = time.monotonic(), _waiting(app)
        left = first
        while left and time.monotonic() - began < seconds:
            time.sleep(0.25)
            if pg:
                _pg_waits(app, waits)
            left = _waiting(app)
        elapsed = time.monotonic() - began
        worker_cpu = sum(_cpu_seconds(p.pid) - cpu_before.get(p.pid, 0.0) for p in procs)
        backend_cpu = sum(_cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in (_pg_backends(app) if pg else []))
        load = max(load, os.getloadavg()[0])
        for proc in procs:
            proc.terminate()
            proc.wait(60)
        done = max(1, first - left)
        return {"rate": (first - left) / elapsed, "worker_ms": worker_cpu / done * 1000,
                "backend_ms": backend_cpu / done * 1000, "cores": (worker_cpu + backend_cpu) / elapsed,
                "waits": waits, "load": load, "done": first - left}
    finally:
        app.close()


def clone_pg_database(url: str, template_url: str) -> str:
    """A copy of a database (its backlog) under a fresh name, for a second drain of the same messages."""
    import psycopg

    name = f"{DB_PREFIX}{uuid.uuid4().hex[:10]}"
    source = template_url.rsplit("/", 1)[1]
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    _CREATED.append(name)
    return template_url.rsplit("/", 1)[0] + "/" + name


def drain_line(workers: int, figures: dict[str, Any]) -> str:
    waits: Counter[str] = figures["waits"]
    sampled = sum(waits.values()) or 1
    locks = sum(n for key, n in waits.items() if key.startswith("Lock:"))
    top = ", ".join(f"{key} {n / sampled:.0%}" for key, n in waits.most_common(4))
    return (f"  {workers} worker{'s' if workers > 1 else ' '}: {figures['rate']:6.1f} msg/s over {figures['done']} "
            f"messages; CPU per message: worker {figures['worker_ms']:.1f} ms + PostgreSQL "
            f"{figures['backend_ms']:.1f} ms; of {sum(waits.values())} active backends seen (4 samples a second), "
            f"waiting on a lock {locks / sampled:.0%} ({top}); cores used {figures['cores']:.2f}; load {figures['load']:.1f}")


def backlog_scaling(root: Path, pg: str, stored: dict[str, Any], seconds: float) -> tuple[dict[str, Any], ...]:
    """Drain the same pre-stored backlog (the --no-worker flood's messages, and a copy of its
    database) with 1 and with 2 `stopit worker` processes, the listener stopped."""
    first = stored["config"].parent
    second = root / "backlog-copy"
    shutil.copytree(first, second)
    config = second / "stopit.toml"
    config.write_text(config.read_text().replace(stored["url"], clone_pg_database(pg, stored["url"])))
    return processing_rate(stored["config"], first, 1, seconds), processing_rate(config, second, 2, seconds)
