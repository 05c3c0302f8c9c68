"""The bank's near-duplicate guard: bank sentences within ``--limit`` cosine of a dev-set sentence.

The category examples (``triage_categories/*.tsv``) are checked with the bank's lines.

The dev set (``tests/fixtures/triage/dev``) only measures; a bank line that the model places almost on
top of a dev sentence (or a whole dev report) makes the dev figures measure overlap instead of
generalisation, even when it was written independently. The sentences the dev set's mail wrapping
adds (``tests/triage_dev.py``: its greetings, forward introductions, the forwarded newsletter, the
tip line's question, the disclaimer) are checked too, so that ``bench/triage.py --email`` measures
the bank on wording it was not written from. Stop 9 dropped every new line at 0.95 or
more; this is that check, kept so the next edit of the bank can run it. With ``--since REF`` only the
lines added since that git revision are checked (what an edit of the bank must pass); without it
the whole shipped bank is. Prints each line at or over the limit and exits 1 if there is one.
The set's vectors are cached in the temporary folder (keyed by its text and the model).

``--set holdout`` checks the holdout set (``tests/fixtures/triage/holdout``) instead, which nobody
tunes on: the count says how independent it is of the bank. Both directions are counted: bank lines
near a set sentence, and set sentences (and whole reports) near a bank line. ``--quiet`` prints only
the counts, so whoever writes or checks a set can run this without reading the bank's lines.

    python bench/triage_bank_overlap.py --since main
    python bench/triage_bank_overlap.py --limit 0.93
    python bench/triage_bank_overlap.py --set holdout --quiet
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from stopit_mail.cases.detect.bank import embed_in_batches, index_bank, shipped_bank
from stopit_mail.cases.detect.bank_vectors import bank_folder
from stopit_mail.cases.detect.category_bank import CATEGORY_FOLDER, category_index, shipped_category_examples
from stopit_mail.cases.detect.model import Embedder, shared_embedder
from stopit_mail.cases.detect.sentences import report_sentences

ROOT = Path(__file__).resolve().parent.parent
SETS = {"dev": ROOT / "tests" / "fixtures" / "triage" / "dev",
        "holdout": ROOT / "tests" / "fixtures" / "triage" / "holdout"}


def report_units(folder: Path) -> dict[str, set[str]]:
    """Every report of the set whole, and each of its sentences as the detector cuts them, each with
    the ids of the reports it comes from."""
    units: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                for unit in [row["text"], *(s.text for s in report_sentences(row["text"]))]:
                    units.setdefault(unit, set()).add(row["id"])
    return units


def wrapper_units() -> list[str]:
    """Each sentence the dev set's mail wrapping adds around a report (``tests/triage_dev.py``)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import triage_dev  # noqa: PLC0415 - a test helper, only for this check

    texts = [triage_dev.NEUTRAL_ORIGINAL, triage_dev.TIPLINE_QUESTION, triage_dev.DISCLAIMER,
             *(part for phrases in triage_dev.PHRASES.values() for part in (
                 phrases.greeting, phrases.signoff, phrases.forward_intro, phrases.subject))]
    units = [sentence.text for text in texts for sentence in report_sentences(text)]
    units += [line.strip() for text in texts for line in text.splitlines() if line.strip()]
    return list(dict.fromkeys(units))


def dev_vectors(embedder: Embedder, units: list[str]) -> np.ndarray:
    """The set's units' embeddings, from the temporary folder's cache when the set and model match."""
    digest = hashlib.sha256("\n".join([embedder.name, *units]).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"stopit-triage-dev-{digest}.npy"
    if cache.exists():
        return np.load(cache)
    vectors = embed_in_batches(embedder, units).astype(np.float32)
    np.save(cache, vectors)
    return vectors


def added_lines(since: str) -> set[str]:
    """Bank lines (label, category, sentence) and category examples (category, sentence) added
    since git revision ``since`` (a new, untracked category file counts whole)."""
    folder = Path(str(bank_folder()))
    categories = folder.parent / CATEGORY_FOLDER
    diff = subprocess.run(["git", "-C", str(ROOT), "diff", since, "--", str(folder), str(categories)],
                          capture_output=True, text=True, check=True).stdout
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    untracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--others", "--exclude-standard", "--",
                                str(categories)], capture_output=True, text=True, check=True).stdout.split()
    added += [line for name in untracked if name.endswith(".tsv")
              for line in (ROOT / name).read_text(encoding="utf-8").splitlines()]
    return {line.split("\t")[-1] for line in added if not line.startswith("#") and line.count("\t") in (1, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=float, default=0.95, help="Cosine at or over which a line is listed.")
    parser.add_argument("--since", help="Check only the lines added since this git revision.")
    parser.add_argument("--set", choices=sorted(SETS), default="dev", dest="labelled_set",
                        help="Which labelled set to compare the bank with (default: dev).")
    parser.add_argument("--quiet", action="store_true", help="Print only the counts, not the lines.")
    parser.add_argument("--ids", type=Path, help="Write the ids of the set's reports near a bank line, one a line.")
    args = parser.parse_args()
    embedder, status = shared_embedder()
    if embedder is None:
        print(f"model unavailable: {status.detail}", file=sys.stderr)
        return 2
    index = index_bank(shipped_bank(), embedder)
    categories = category_index(shipped_category_examples(), embedder)
    examples = index.bank.examples + categories.examples
    bank_vectors = np.vstack([index.vectors, categories.vectors])
    rows = list(range(len(examples)))
    if args.since:
        wanted = added_lines(args.since)
        rows = [i for i in rows if examples[i].sentence in wanted]
    sources = report_units(SETS[args.labelled_set])
    units, wrapping = list(sources), wrapper_units()
    vectors = np.vstack([dev_vectors(embedder, units), embed_in_batches(embedder, wrapping).astype(np.float32)])
    units += [f"(mail wrapping) {text}" for text in wrapping]
    sims = bank_vectors[rows].astype(np.float32) @ vectors.T
    found = 0
    for position, (row, best) in enumerate(zip(rows, sims.argmax(axis=1), strict=True)):
        score = float(sims[position, best])
        if score >= args.limit:
            found += 1
            example = examples[row]
            if not args.quiet:
                print(f"{score:.3f} {example.language} {example.label}: {example.sentence}\n"
                      f"      {args.labelled_set}: {units[best][:160]}")
    near = sims.max(axis=0) >= args.limit if rows else np.zeros(len(units), dtype=bool)
    reports = {ident for unit, hit in zip(units, near, strict=True) if hit for ident in sources.get(unit, ())}
    if args.ids:
        args.ids.write_text("".join(f"{ident}\n" for ident in sorted(reports)), encoding="utf-8")
    print(f"{found} of {len(rows)} bank sentences within {args.limit} of {len(units)} {args.labelled_set} "
          f"sentences and reports")
    print(f"{int(near.sum())} of {len(units)} {args.labelled_set} sentences and reports within {args.limit} of a bank "
          f"sentence; {len(reports)} of {len({i for ids in sources.values() for i in ids})} reports concerned")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
