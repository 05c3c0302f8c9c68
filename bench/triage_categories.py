"""Category accuracy on routine and urgent reports: what staff see in a case's category list.

Issue 9 asks for categories that help: a report tagged only "other", or "self-harm" on a report about
a teacher yelling, sends it to the wrong person. This measures, over the reports labelled *routine*
or *urgent* that are not hard negatives (the ones staff work through by category), per expected
category how many reports carry it, which categories they got instead, how many got only "other",
and how many carry a category none of their expected ones explains (spurious); per category given,
how many of the reports carrying it expected it (precision), and which wrong ones are given most. It uses the fast
harness of ``bench/triage_metric.py`` (each unit embedded once, cached), so a run costs seconds once
the set's rows are cached; the tier summary line is printed too, to show urgency did not move.

    python bench/triage_categories.py                        # the dev set
    python bench/triage_categories.py --set tests/fixtures/triage/holdout   # another folder or files
    python bench/triage_categories.py --confusions 30 --dump /tmp/categories.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from triage import DEV, load  # noqa: E402
from triage_metric import CACHE, CachedOnly, cached_rows, prepared, scored  # noqa: E402

from stopit_mail.cases.detect.bank import index_bank, shipped_bank  # noqa: E402
from stopit_mail.cases.detect.category_bank import with_category_examples  # noqa: E402
from stopit_mail.cases.detect.detector import judged_units  # noqa: E402
from stopit_mail.cases.detect.tiers import decide  # noqa: E402


def decided(rows: list[dict[str, Any]], cache: Path) -> None:
    """Decide every report as ``Detector.assess`` would; sets ``got`` and ``got_categories``."""
    name, known = cached_rows(rows, cache)
    index = with_category_examples(index_bank(shipped_bank(), CachedOnly(name)), CachedOnly(name))  # type: ignore[arg-type]
    reports = prepared(rows)
    hoods = scored(known, index, reports)
    for row, (decision, sentences, units, unit_languages) in zip(rows, reports, strict=True):
        unit_hoods = [hoods[u.key] for u in units]
        kept = judged_units(sentences, units, unit_hoods)
        final = decide(decision, [units[i] for i in kept], [unit_languages[i] for i in kept],
                       [unit_hoods[i] for i in kept], index.bank.languages, "dev cache")
        row["got"], row["got_categories"] = final.urgency, list(final.categories)


def tally(chosen: list[dict[str, Any]]) -> tuple[int, int, int, int, dict[str, list[int]], Counter[str],
                                                   Counter[tuple[str, tuple[str, ...]]],
                                                   Counter[tuple[str, tuple[str, ...]]]]:
    """Found/expected and right/given category counts over ``chosen``, per category, and the
    frequent misses (expected -> got) and wrong ones (given -> expected)."""
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed: Counter[tuple[str, tuple[str, ...]]] = Counter()
    wrong: Counter[tuple[str, tuple[str, ...]]] = Counter()
    given: Counter[str] = Counter()
    for row in chosen:
        got = set(row["got_categories"])
        given.update(got)
        for category in row["categories"]:
            hits[category][1] += 1
            hits[category][0] += category in got
            if category not in got:
                missed[(category, tuple(sorted(got)))] += 1
        for category in got - set(row["categories"]) - {"other"}:
            wrong[(category, tuple(sorted(row["categories"])))] += 1
    found = sum(h for h, _ in hits.values())
    total = sum(n for _, n in hits.values())
    right = sum(hits[c][0] for c in given if c in hits)
    return found, total, right, sum(given.values()), hits, given, missed, wrong


def report(title: str, rows: list[dict[str, Any]], confusions: int) -> list[dict[str, Any]]:
    """Print the table for the routine and urgent reports of ``rows``; returns those reports.

    Per category: found (recall: reports expecting it that carry it) and precision (reports
    carrying it that expected it), so a category given everywhere does not pass for a good one.
    Danger categories (self-harm, weapons...) that no routine or urgent report expects are listed
    too: on these reports they are all wrong."""
    from triage import summarise  # noqa: PLC0415 - the same summary line as bench/triage.py

    print(summarise(title, rows))
    paged = [r for r in rows if r["tier"] in ("emergency", "possible-emergency") and not r["hard_negative"]]
    found, total, right, named = tally(paged)[:4]
    print(f"{len(paged)} emergency/possible-emergency reports (must not get worse): expected categories found "
          f"{found}/{total} ({100 * found / max(total, 1):.1f}%), precision {right}/{named} "
          f"({100 * right / max(named, 1):.1f}%)")
    chosen = [r for r in rows if r["tier"] in ("routine", "urgent") and not r["hard_negative"] and r["categories"]]
    found, total, right, named, hits, given, missed, wrong = tally(chosen)
    exact = sum(set(r["got_categories"]) == set(r["categories"]) for r in chosen)
    only_other = sum(r["got_categories"] == ["other"] for r in chosen)
    spurious = sum(bool(set(r["got_categories"]) - set(r["categories"]) - {"other"}) for r in chosen)
    print(f"{len(chosen)} routine/urgent reports: expected categories found {found}/{total} "
          f"({100 * found / max(total, 1):.1f}%), categories given that were expected {right}/{named} "
          f"(precision {100 * right / max(named, 1):.1f}%), exactly right {exact}, only 'other' {only_other}, "
          f"reports with a spurious category {spurious}")
    for category in sorted(set(hits) | set(given)):
        got, of = hits[category]
        print(f"  {category:<32} found {got:>3}/{of:<3} precision {got:>3}/{given[category]:<3} "
              f"({100 * got / max(given[category], 1):5.1f}%)")
    if confusions:
        print("  most frequent misses (expected -> got):")
        for (category, got_instead), count in missed.most_common(confusions):
            print(f"    {count:>3}  {category} -> {', '.join(got_instead)}")
        print("  most frequent wrong categories (given -> where these were expected):")
        for (category, expected), count in wrong.most_common(confusions):
            print(f"    {count:>3}  {category} -> {', '.join(expected)}")
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", dest="sets", action="append", type=Path, default=[],
                        help="A folder of *.jsonl or a .jsonl file to measure besides the dev set (repeatable).")
    parser.add_argument("--no-dev", action="store_true", help="Measure only the --set files.")
    parser.add_argument("--cache", type=Path, default=CACHE, help="Where the units' rows are kept.")
    parser.add_argument("--confusions", type=int, default=15, help="How many frequent misses to list.")
    parser.add_argument("--dump", type=Path, help="Write each measured report's expected and found categories.")
    args = parser.parse_args()
    sets = [] if args.no_dev else [("dev", sorted(DEV.glob("*.jsonl")))]
    sets += [(str(p), sorted(p.glob("*.jsonl")) if p.is_dir() else [p]) for p in args.sets]
    dumped = []
    for title, files in sets:
        rows = load(files)
        decided(rows, args.cache)
        chosen = report(title, rows, args.confusions)
        dumped += [{"id": r["id"], "lang": r["lang"], "expected": r["categories"], "got": r["got_categories"],
                    "text": r["text"][:200]} for r in chosen]
    if args.dump:
        args.dump.write_text(json.dumps(dumped, ensure_ascii=False, indent=0), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
