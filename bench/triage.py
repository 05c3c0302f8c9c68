"""Triage quality and cost: recall and false alarms per tier, language and kind, and time per report.

Runs the detector (rules + the pinned model + the shipped bank) over labelled reports and prints:
- emergencies reaching at least the reviewer tier (possible-emergency) and the confident tier;
- hard negatives paged at the confident tier (and at the reviewer tier);
- routine reports reaching the reviewer tier;
- the same per language and per kind; category hits, per expected category of the routine and
  urgent reports with how many got only "other"; per-report time and the model's cost per
  message, next to the rules alone (the bare reference).

Targets on the dev set: emergencies >= reviewer 99%, >= confident 90%; hard negatives confident
<= 5%; routine >= reviewer <= 10%. The dev set measures; the bank is never built or tuned from it.
The dev set has had thresholds chosen on it; the holdout set (``--set holdout``,
tests/fixtures/triage/holdout/) was written separately and is never used to tune anything, so its
figures are the honest ones for reports nobody here has seen.

    python bench/triage.py                       # the dev set, tests/fixtures/triage/dev/*.jsonl
    python bench/triage.py --set holdout --misses  # the holdout set; --email works with it too
    python bench/triage.py tests/fixtures/triage/holdout_reports.jsonl ...
    python bench/triage.py --one-core --misses   # pin to one CPU; list what was missed
    python bench/triage.py --email               # each dev report wrapped as real mail, through extraction
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from stopit_mail.cases.detect import shared_detector
from stopit_mail.cases.triage import compile_rules, load_rules, triage
from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.processing.rules import report_text

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tests" / "fixtures" / "triage" / "dev"
SETS = {"dev": DEV, "holdout": ROOT / "tests" / "fixtures" / "triage" / "holdout"}
RANK = {"emergency": 0, "possible-emergency": 1, "urgent": 2, "routine": 3}


def load(paths: list[Path]) -> list[dict[str, Any]]:
    """Rows of every file, in one shape: text, lang, tier, kind, hard_negative, categories."""
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            tier = row.get("tier") or row.get("expected_urgency", "routine")
            categories = row.get("categories") or row.get("expected_categories") or []
            rows.append({"text": row["text"], "lang": row.get("lang", "?"), "tier": tier,
                         "kind": row.get("kind") or (categories[0] if categories else "other"),
                         "hard_negative": bool(row.get("hard_negative")), "categories": categories,
                         "id": row.get("id", f"{path.stem}:{len(rows) + 1}"), "raw": row})
    return rows


def as_mail_text(row: dict[str, Any]) -> tuple[str, str]:
    """(text, subject) as the worker's triage step reads them, after wrapping the report as mail
    (tests/triage_dev.py) and running the evidence extraction on the bytes."""
    sys.path.insert(0, str(ROOT / "tests"))
    from triage_dev import as_email, style_for  # noqa: PLC0415 - a test helper, only for --email

    extraction = extract_evidence(as_email(row["raw"], style_for(row["raw"])))
    return report_text(extraction), extraction.subject


def rate(hits: int, total: int) -> str:
    return f"{hits}/{total} ({100 * hits / total:.1f}%)" if total else "-"


def summarise(title: str, rows: list[dict[str, Any]]) -> str:
    """One line: emergency recall at both tiers, false alarms of hard negatives and routine reports, and
    how many reports labelled possible-emergency reach the reviewer."""
    emergencies = [r for r in rows if r["tier"] == "emergency"]
    hard = [r for r in rows if r["hard_negative"]]
    routine = [r for r in rows if r["tier"] == "routine" and not r["hard_negative"]]
    # Reports labelled possible-emergency: the reviewer tier is where they belong, and a gate that
    # quiets routine reports there may cost these too (they then wait for a person at *urgent*).
    possible = [r for r in rows if r["tier"] == "possible-emergency"]
    return (f"{title:<28} n={len(rows):<4} emerg>=review {rate(sum(RANK[r['got']] <= 1 for r in emergencies), len(emergencies)):<16}"
            f" emerg=confident {rate(sum(r['got'] == 'emergency' for r in emergencies), len(emergencies)):<16}"
            f" hardneg paged {rate(sum(r['got'] == 'emergency' for r in hard), len(hard)):<14}"
            f" hardneg>=review {rate(sum(RANK[r['got']] <= 1 for r in hard), len(hard)):<14}"
            f" routine>=review {rate(sum(RANK[r['got']] <= 1 for r in routine), len(routine)):<14}"
            f" possible>=review {rate(sum(RANK[r['got']] <= 1 for r in possible), len(possible))}")


# The note ``tiers.routine_by_rules`` leaves when it lowers a reviewer verdict to *urgent*.
ORDINARY_NOTE = "the rules read an ordinary report"


def ordinary_line(rows: list[dict[str, Any]]) -> str:
    """What the rules' ordinary reading cost and gained: the reports it took from the reviewer tier
    to *urgent*, per expected tier (a path below the reviewer shows its cost in every summary)."""
    lowered = Counter(r["tier"] + ("/hard-negative" if r["hard_negative"] else "")
                      for r in rows if ORDINARY_NOTE in r.get("why", ""))
    return "lowered to urgent by the rules' ordinary reading: " + (
        ", ".join(f"{tier} {count}" for tier, count in sorted(lowered.items())) or "none")


def category_lines(rows: list[dict[str, Any]]) -> str:
    """Per expected category of ``rows``: how many reports expecting it carry it, and how many of
    them were given only "other" (what staff cannot route); ``bench/triage_categories.py`` has more."""
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        for category in row["categories"]:
            found[category][0] += category in row["got_categories"]
            found[category][1] += 1
            found[category][2] += list(row["got_categories"]) == ["other"] and category != "other"
    only_other = sum(list(r["got_categories"]) == ["other"] for r in rows)
    lines = [f"-- categories of routine/urgent reports (only 'other' given: {rate(only_other, len(rows))})"]
    lines += [f"{category:<32} found {rate(hit, total):<16} only 'other' {other}"
              for category, (hit, total, other) in sorted(found.items())]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--one-core", action="store_true", help="Pin this process to one CPU.")
    parser.add_argument("--misses", action="store_true",
                        help="List emergencies below review or held at review, and paged negatives.")
    parser.add_argument("--dump", type=Path, help="Write each report's id, labels and decided tier as JSON lines.")
    parser.add_argument("--set", choices=sorted(SETS), default="dev", dest="labelled_set",
                        help="Which labelled set to measure when no files are given (default: dev).")
    parser.add_argument("--email", action="store_true", help="Wrap each report as mail and extract it first.")
    parser.add_argument("--hold", action="store_true",
                        help="Let the model hold a rule's emergency for the reviewer (off in the service).")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "stopit-triage-cache")
    args = parser.parse_args()
    if args.one_core and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rows = load(args.files or sorted(SETS[args.labelled_set].glob("*.jsonl")))
    if not rows:
        print("no reports found", file=sys.stderr)
        return 1
    rules = compile_rules(load_rules())
    started = time.perf_counter()
    detector = shared_detector(args.cache_dir)
    detector.hold_rule_emergencies = args.hold
    if detector.embedder is None:
        print(f"MODEL UNAVAILABLE: {detector.status.detail}", file=sys.stderr)
    else:
        detector.index()
    print(f"model: {detector.status.name} ({detector.status.detail}); bank {len(detector.bank.examples)} examples, "
          f"languages {' '.join(sorted(detector.bank.languages))}; load+bank {time.perf_counter() - started:.1f} s")
    rule_times, times = [], []
    for row in rows:
        text, subject = as_mail_text(row) if args.email else (row["text"], "")
        t0 = time.perf_counter()
        triage(text, rules, subject=subject)
        rule_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        decision = detector.assess(text, rules, subject=subject)
        times.append(time.perf_counter() - t0)
        row["got"], row["got_categories"] = decision.urgency, decision.categories
        row["why"] = decision.explanation()
    print(summarise("ALL", rows))
    print(ordinary_line(rows))
    for key in ("lang", "kind"):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            groups[row[key]].append(row)
        print(f"-- per {key}")
        for name in sorted(groups):
            print(summarise(f"{key}={name}", groups[name]))
    tiers = defaultdict(lambda: defaultdict(int))
    for row in rows:
        tiers[row["tier"] + ("/hard-negative" if row["hard_negative"] else "")][row["got"]] += 1
    print("-- expected tier -> decided tier")
    for name in sorted(tiers):
        print(f"{name:<28} " + "  ".join(f"{t}:{tiers[name].get(t, 0)}" for t in RANK))
    categorised = [r for r in rows if r["categories"]]
    hits = sum(bool(set(r["categories"]) & set(r["got_categories"])) for r in categorised)
    routine_cat = [r for r in categorised if r["tier"] in ("routine", "urgent")]
    print(f"category hit (any expected category found): {rate(hits, len(categorised))}; routine/urgent reports: "
          f"{rate(sum(bool(set(r['categories']) & set(r['got_categories'])) for r in routine_cat), len(routine_cat))}")
    print(category_lines(routine_cat))
    mean, p95 = statistics.mean(times), sorted(times)[int(0.95 * (len(times) - 1))]
    rules_mean = statistics.mean(rule_times)
    print(f"per report: {1000 * mean:.1f} ms mean, {1000 * p95:.1f} ms p95 (rules alone {1000 * rules_mean:.2f} ms; "
          f"ratio {mean / rules_mean:.0f}x); model cost per message {1000 * (mean - rules_mean):.1f} ms; "
          f"sentences embedded {detector.embedded} for {len(rows)} reports")
    if args.misses:
        for row in rows:
            missed = row["tier"] == "emergency" and RANK[row["got"]] > 1
            held = row["tier"] == "emergency" and row["got"] == "possible-emergency"
            alarm = row["hard_negative"] and row["got"] == "emergency"
            if missed or held or alarm:
                print(f"{'MISSED' if missed else 'REVIEW' if held else 'PAGED '} {row['id']} [{row['lang']}/{row['kind']}] got {row['got']}: "
                      f"{row['text'][:120]!r}\n        {row['why'][:300]}")
    if args.dump:
        keep = ("id", "lang", "tier", "kind", "hard_negative", "categories", "got", "got_categories")
        args.dump.write_text("".join(json.dumps({k: row[k] for k in keep}, ensure_ascii=False) + "\n" for row in rows),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
