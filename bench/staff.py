"""Staff commands at scale: time and peak memory of each, as a ratio to `stopit --version`.

Builds a SQLite installation with N realistic cases (default 100,000; `--cases 1000000`) through
the project's own migrations, then bulk-inserts rows consistent with the schema (each case has
a stored message, a report with the reporter's words, an evidence message with its text, a
reporter and an alleged sender, and the events the pipeline writes; some have notes, notices
and repeat offenders). The full-text index is filled by its own triggers, as in production.
Then it runs each staff command in a fresh process, as a person would, and prints:

    command   seconds   ratio to --version   peak RSS

    python bench/staff.py [--cases N] [--keep DIR] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
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


def timed(argv: list[str], runs: int) -> tuple[float, int]:
    """Best wall time of `runs` fresh processes, and the largest peak RSS (KiB) among them."""
    best, peak = float("inf"), 0
    for _ in range(runs):
        began = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # wait4 gives this child's own peak memory, not the running maximum over all children.
        _pid, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{child.stderr.read().decode() if child.stderr else ''}")
        best = min(best, elapsed)
        peak = max(peak, usage.ru_maxrss)
    return best, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the installation in this folder.")
    parser.add_argument("--remove", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="stopit-staff-"))
    config = folder / "stopit.toml"
    if not config.exists():
        began = time.perf_counter()
        config = build(folder, args.cases)
        print(f"built {args.cases:,} cases in {time.perf_counter() - began:.0f} s "
              f"({(folder / 'data' / 'stopit.db').stat().st_size / 2**20:,.0f} MiB)", flush=True)
        # Measure from a fresh, small process: a child's peak memory counts what it was forked from.
        again = [sys.executable, __file__, "--cases", str(args.cases), "--runs", str(args.runs), "--keep", str(folder)]
        if args.keep is None:
            again.append("--remove")
        os.execv(sys.executable, again)
    stopit = [sys.executable, "-m", "stopit_mail", "-c", str(config)]
    with sqlite3.connect(folder / "data" / "stopit.db") as db:
        number = db.execute("SELECT number FROM cases ORDER BY id DESC LIMIT 1 OFFSET 5").fetchone()[0]
    commands = {
        "--version": [sys.executable, "-m", "stopit_mail", "--version"],
        # The floor under every staff command: the database library and the models, nothing run.
        "(import the models only)": [sys.executable, "-c", "import stopit_mail.models"],
        "cases list": [*stopit, "cases", "list"],
        "cases list --urgency emergency --page 3": [*stopit, "cases", "list", "--urgency", "emergency", "--page", "3"],
        "cases list --offender offender7@": [*stopit, "cases", "list", "--offender", "offender7@"],
        "cases show NUMBER": [*stopit, "cases", "show", number],
        "cases show TAIL": [*stopit, "cases", "show", number.rpartition("-")[2].lstrip("0")],
        "cases search (rare word)": [*stopit, "cases", "search", "hallway library regret"],
        "cases search (common word)": [*stopit, "cases", "search", "locker"],
        "stats": [*stopit, "stats"],
    }
    base, _ = timed(commands["--version"], args.runs)
    print(f"{'command':42} {'seconds':>8} {'ratio':>7} {'peak RSS':>10}")
    for name, argv in commands.items():
        seconds, rss = timed(argv, args.runs)
        print(f"{name:42} {seconds:8.3f} {seconds / base:7.2f} {rss / 1024:8.1f} MiB")
    if args.remove:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
