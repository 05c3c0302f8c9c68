"""Staff commands at scale: time and peak memory of each, as a ratio to `stopit --version`.

Builds a SQLite installation with N realistic cases (default 100,000; `--cases 1000000`) through
the project's own migrations, then bulk-inserts rows consistent with the schema (each case has
a stored message, a report with the reporter's words, an evidence message with its text, a
reporter and an alleged sender, and the events the pipeline writes; some have notes, notices
and repeat offenders). The full-text index is filled by its own triggers, as in production.
Then it starts the service's staff API (`stopit api serve`, stopped by its PID) and runs each
staff command as a fresh client process through its socket, as a staff member would, and again
in-process (the service account with the service stopped, opening the database itself). For
each it prints the best of the runs: wall time, the client's CPU (user+sys, less noisy than
wall time on a busy machine), the server's CPU share of the request, the ratio of the wall
time to `stopit --version`, and peak RSS; and the load average before and after.

    python bench/staff.py [--cases N] [--keep DIR] [--runs 3] [--mode both|socket|in-process]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

WORDS = ("locker gym bus party photo group chat rumour threat message account fake video laugh ugly "
         "nobody everyone tomorrow school class teacher phone number address stop again please send "
         "delete regret hurt scared crying friend parents weekend library hallway lunch").split()
CATEGORIES = ("bullying", "cyberbullying", "harassment", "sexual-harassment", "threats-of-violence", "self-harm",
              "discrimination", "other")
URGENCIES = ("routine",) * 14 + ("urgent",) * 5 + ("emergency",)
STATUSES = ("new", "triaged", "notice-sent", "referred", "waiting", "closed", "closed", "closed")
BATCH = 10_000


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def build(folder: Path, cases: int, seed: int = 7) -> Path:
    """A fresh installation in `folder` holding `cases` cases; returns its stopit.toml."""
    # Imported here so the measuring process stays small (see main).
    from stopit_mail.app import init_installation

    config = init_installation(folder, "Bench University", "stopit@example.edu")
    rng = random.Random(seed)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    span = (datetime(2026, 11, 1, tzinfo=UTC) - start).total_seconds()
    offenders = [f"offender{i}@mail{i % 97}.example" for i in range(max(10, cases // 20))]
    db = sqlite3.connect(folder / "data" / "stopit.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    # Row-by-row trigger upkeep of the full-text index and the stats rollups would dominate the
    # build: drop the triggers, load, then fill both in one pass with the migrations' own statements.
    triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _sql in triggers:
        db.execute(f"DROP TRIGGER {name}")
    event_id = 0
    for first in range(1, cases + 1, BATCH):
        raws, case_rows, reports, evidence, parties, events = [], [], [], [], [], []
        for i in range(first, min(cases, first + BATCH - 1) + 1):
            opened = start + timedelta(seconds=span * i / cases)
            year = opened.year
            urgency = rng.choice(URGENCIES)
            categories = json.dumps(sorted({rng.choice(CATEGORIES) for _ in range(rng.randint(1, 2))}))
            offender = rng.choice(offenders)
            title = sentence(rng, 4)[:-1]
            status = rng.choice(STATUSES)
            raws.append((i, f"{i:064x}", 900, b"From: r@example.edu\r\n\r\nbench\r\n", _stamp(opened), "smtp", "processed",
                         "report", "[]", "[]", 1, i))
            case_rows.append((i, f"SI-{year}-{i:04d}", f"code{i:012d}", "main", status, title, urgency, categories,
                              _stamp(opened), _stamp(opened + timedelta(hours=3)), 0, 0,
                              "resolved" if status == "closed" else None,
                              rng.choice(("resolved-notice", "unfounded", "referred")) if status == "closed" else None))
            reports.append((i, i, i, f"student{i}@example.edu", f"Student {i}", f"Fwd: {title}",
                            sentence(rng, 30), _stamp(opened)))
            evidence.append((i, i, i, "attached-message", "full", "2", "message/rfc822", 1200, offender,
                             "Alleged Sender", f'[["", "student{i}@example.edu"]]', "[]", title,
                             sentence(rng, 60), "[]"))
            parties.append((i, "reporter", f"student{i}@example.edu", f"Student {i}", "example.edu"))
            parties.append((i, "alleged-sender", offender, "Alleged Sender", offender.rpartition("@")[2]))
            for action, hours, automatic, detail in (("case-opened", 0, 1, "{}"), ("triaged", 0, 1, "{}"),
                                                     ("case-assigned", 2 + i % 9, 0, '{"assignee": "Nora"}')):
                event_id += 1
                events.append((event_id, i, _stamp(opened + timedelta(hours=hours)),
                               "Nora" if not automatic else "stopit", action, detail, automatic))
            if i % 10 == 0:
                event_id += 1
                events.append((event_id, i, _stamp(opened + timedelta(hours=5)), "Nora", "note-added",
                               json.dumps({"text": sentence(rng, 12)}), 0))
        db.executemany("INSERT INTO raw_messages (id, sha256, size, content, received_at, source, status, kind, "
                       "rcpt_to, defects, attempts, case_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL)",
                       [r[:-1] for r in raws])
        db.executemany("INSERT INTO cases (id, number, reporter_code, organisation, status, title, urgency, categories, "
                       "opened_at, updated_at, anonymous, identity_consent, resolution, outcome) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", case_rows)
        db.executemany("UPDATE raw_messages SET case_id = ? WHERE id = ?", [(r[-1], r[0]) for r in raws])
        db.executemany("INSERT INTO reports (id, case_id, raw_message_id, reporter_address, reporter_name, subject, "
                       "wrapper_text, received_at) VALUES (?,?,?,?,?,?,?,?)", reports)
        db.executemany("INSERT INTO evidence (id, case_id, report_id, kind, completeness, mime_path, content_type, "
                       "size, orig_from_address, orig_from_name, orig_to, orig_cc, orig_subject, body_text, problems) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", evidence)
        db.executemany("INSERT INTO parties (case_id, role, address, display_name, domain) VALUES (?,?,?,?,?)",
                       parties)
        db.executemany("INSERT INTO events (id, case_id, at, actor, action, detail, automatic) VALUES (?,?,?,?,?,?,?)",
                       events)
        db.commit()
        print(f"  {min(cases, first + BATCH - 1):,} cases", end="\r", file=sys.stderr, flush=True)
    print("\n  full-text index", end="", file=sys.stderr, flush=True)
    from stopit_mail.cases import fulltext, rollups, sender_index

    for statement in [*fulltext.backfill_statements(), *sender_index.backfill_statements(),
                      *rollups.backfill_statements("sqlite"), *counters_statements()]:
        db.execute(statement)
    for _name, sql in triggers:
        db.execute(sql)
    db.execute("ANALYZE")
    db.commit()
    db.close()
    print(file=sys.stderr)
    return config


def counters_statements() -> list[str]:
    """The case-number counters the numbers above were handed out from (as `next_case_number` keeps them)."""
    return ["DELETE FROM case_counters",
            "INSERT INTO case_counters (prefix, year, last) SELECT substr(number, 1, 2), CAST(substr(number, 4, 4) AS "
            "INTEGER), max(CAST(substr(number, 9) AS INTEGER)) FROM cases GROUP BY 1, 2"]


TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Timing:
    """Best of the runs: wall time, the client's CPU (user+sys), the server's CPU share, and peak RSS."""

    wall: float = float("inf")
    cpu: float = float("inf")
    server: float = float("inf")
    rss_kib: int = 0


def process_cpu(pid: int) -> float:
    """CPU seconds (user+sys) a running process has used, its finished threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def timed(argv: list[str], runs: int, server: int | None = None) -> Timing:
    """`runs` fresh processes of `argv`; the server's share is what process `server` used meanwhile."""
    best = Timing()
    for _ in range(runs):
        before = process_cpu(server) if server else 0.0
        began = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # wait4 gives this child's own CPU and peak memory, not totals over all children.
        _pid, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - began
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{child.stderr.read().decode() if child.stderr else ''}")
        best.wall = min(best.wall, elapsed)
        best.cpu = min(best.cpu, usage.ru_utime + usage.ru_stime)
        best.server = min(best.server, process_cpu(server) - before if server else 0.0)
        best.rss_kib = max(best.rss_kib, usage.ru_maxrss)
    return best


class Service:
    """`stopit api serve` on the installation, as `stopit serve` runs it beside the mailbox; stopped by its PID."""

    def __init__(self, stopit: list[str], socket: Path, log: Path) -> None:
        self.argv, self.socket, self.log = [*stopit, "api", "serve"], socket, log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Service:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise SystemExit(f"the service did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(self.socket))
            except OSError:
                return False
        return True

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def peak_rss_kib(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def commands(stopit: list[str], number: str) -> dict[str, list[str]]:
    """What is timed: the everyday reading commands, as a staff member types them."""
    return {
        "cases list": [*stopit, "cases", "list"],
        "cases list --urgency emergency --page 3": [*stopit, "cases", "list", "--urgency", "emergency", "--page", "3"],
        "cases list --offender offender7@": [*stopit, "cases", "list", "--offender", "offender7@"],
        "cases list --status new": [*stopit, "cases", "list", "--status", "new"],
        "cases list --since 1h": [*stopit, "cases", "list", "--since", "1h"],
        "cases show NUMBER": [*stopit, "cases", "show", number],
        "cases show TAIL": [*stopit, "cases", "show", number.rpartition("-")[2].lstrip("0")],
        "cases search (rare words)": [*stopit, "cases", "search", "hallway library regret"],
        "cases search (common word)": [*stopit, "cases", "search", "locker"],
        "stats": [*stopit, "stats"],
        "status": [*stopit, "status"],
        "audit": [*stopit, "audit"],
        "offenders list": [*stopit, "offenders", "list"],
        "whoami": [*stopit, "whoami"],
    }


def measure(folder: Path, runs: int, modes: tuple[str, ...]) -> None:
    """Print each command's figures through the running service and/or in-process."""
    import compileall

    import stopit_mail
    from stopit_mail.api import socket_in_config

    # Bytecode, as pip writes it when it installs the package: without it (an editable install
    # with PYTHONDONTWRITEBYTECODE set, as here) every command compiles every module it imports.
    compileall.compile_dir(Path(stopit_mail.__file__).parent, quiet=1)
    config = folder / "stopit.toml"
    script = Path(sys.executable).with_name("stopit")
    # The installed `stopit` script is what staff run; `-m stopit_mail` where there is none.
    stopit = [str(script) if script.exists() else sys.executable, *([] if script.exists() else ["-m", "stopit_mail"]),
              "-c", str(config)]
    with sqlite3.connect(folder / "data" / "stopit.db") as db:
        number = db.execute("SELECT number FROM cases ORDER BY id DESC LIMIT 1 OFFSET 5").fetchone()[0]
    timed_commands = commands(stopit, number)
    base = timed([*stopit[:-2], "--version"], runs)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; best of {runs}; "
          f"`stopit --version` {base.wall:.3f} s wall, {base.cpu:.3f} s CPU, {base.rss_kib / 1024:.1f} MiB", flush=True)
    in_process: dict[str, Timing] = {}
    if "in-process" in modes:
        models = timed([sys.executable, "-c", "import stopit_mail.models"], runs)
        print(f"(import the models only: {models.wall:.3f} s wall, {models.cpu:.3f} s CPU)", flush=True)
        in_process = {name: timed(argv, runs) for name, argv in timed_commands.items()}
    through: dict[str, Timing] = {}
    server_rss = 0
    if "socket" in modes:
        socket_file = socket_in_config(config)
        assert socket_file is not None
        with Service(stopit, socket_file, folder / "bench-api.log") as service:
            through = {name: timed(argv, runs, service.pid) for name, argv in timed_commands.items()}
            server_rss = service.peak_rss_kib()
    print(f"{'command':40} {'socket':>7} {'client':>7} {'server':>7} {'ratio':>6} {'RSS':>6}   "
          f"{'in-proc':>7} {'CPU':>6} {'ratio':>6} {'RSS':>6}")
    print(f"{'':40} {'wall s':>7} {'CPU s':>7} {'CPU s':>7} {'':>6} {'MiB':>6}   {'wall s':>7} {'s':>6} {'':>6} {'MiB':>6}")
    for name in timed_commands:
        cells = []
        for timing, width in ((through.get(name), 7), (in_process.get(name), 7)):
            if timing is None:
                cells.append(" " * 38)
                continue
            server = f"{timing.server:7.2f} " if timing is through.get(name) else ""
            cells.append(f"{timing.wall:{width}.3f} {timing.cpu:{width}.3f} {server}{timing.wall / base.wall:6.2f} "
                         f"{timing.rss_kib / 1024:6.1f}")
        print(f"{name:40} {cells[0]}   {cells[1]}", flush=True)
    if server_rss:
        print(f"service (stopit api serve): peak RSS {server_rss / 1024:.1f} MiB; server CPU is in clock ticks "
              f"of {1 / TICKS:.2f} s")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the installation in this folder.")
    parser.add_argument("--mode", choices=("both", "socket", "in-process"), default="both",
                        help="Through the running service's socket (as staff run them), in-process, or both.")
    parser.add_argument("--remove", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="stopit-staff-"))
    if not (folder / "stopit.toml").exists():
        began = time.perf_counter()
        build(folder, args.cases)
        print(f"built {args.cases:,} cases in {time.perf_counter() - began:.0f} s "
              f"({(folder / 'data' / 'stopit.db').stat().st_size / 2**20:,.0f} MiB)", flush=True)
        # Measure from a fresh, small process: a child's peak memory counts what it was forked from.
        again = [sys.executable, __file__, "--runs", str(args.runs), "--mode", args.mode, "--keep", str(folder)]
        if args.keep is None:
            again.append("--remove")
        os.execv(sys.executable, again)
    modes = ("socket", "in-process") if args.mode == "both" else (args.mode,)
    measure(folder, args.runs, modes)
    if args.remove:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
