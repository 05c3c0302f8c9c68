"""Compare ways of scoring on the dev set in seconds: every dev sentence is embedded once.

``bench/triage.py`` runs the model over all 1,946 dev reports (5-10 minutes on a shared machine),
too slow to compare ways of scoring. This embeds each distinct dev sentence (and each joined pair of
sentences, as the detector scores them) once and keeps the rows in ``--cache``; the rules' verdict,
the sentences and their languages are computed once per run; then each variant costs the scoring
and the tiers only (``Detector.assess`` step by step: ``score_vectors`` then ``decide``), a few
seconds. It prints the summary line of ``bench/triage.py`` for each share of the fitted metric's
vote (``scoring.METRIC_WEIGHT``; 0 is e5's raw vote alone, the scoring before the metric).
The dev set only confirms; the scoring and its thresholds are chosen on the bank held out
(``bench/triage_calibrate.py``).

    python bench/triage_metric.py                   # embed what is missing, then measure
    python bench/triage_metric.py --weights 0,0.5,0.75 --misses
    python bench/triage_metric.py tests/fixtures/triage/holdout/*.jsonl   # another labelled set
    python bench/triage_metric.py --heads shipped,none:none,-0.5:none,0:-1   # the linear head's gates

``--heads`` measures the bank's linear head (``detect.head``) as a gate on the confident tier and on
the reviewer tier (``Thresholds.confident_head``, ``review_head``), as ``CONFIDENT:REVIEW`` log-odds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from triage import DEV, RANK, load, ordinary_line, summarise  # noqa: E402

from stopit_mail.cases.detect import scoring  # noqa: E402
from stopit_mail.cases.detect.bank import BankIndex, index_bank, shipped_bank  # noqa: E402
from stopit_mail.cases.detect.category_bank import with_category_examples  # noqa: E402
from stopit_mail.cases.detect.detector import judged_units, whole_text, with_neighbours  # noqa: E402
from stopit_mail.cases.detect.language import sentence_languages  # noqa: E402
from stopit_mail.cases.detect.model import shared_embedder  # noqa: E402
from stopit_mail.cases.detect.scoring import Neighbourhood, score_vectors  # noqa: E402
from stopit_mail.cases.detect.sentences import cache_key, report_sentences  # noqa: E402
from stopit_mail.cases.detect.tiers import DEFAULT_THRESHOLDS, Thresholds, decide  # noqa: E402
from stopit_mail.cases.triage import compile_rules, load_rules, triage  # noqa: E402

CACHE = Path("/tmp/stopit-triage-dev-vectors.npz")


class CachedOnly:
    """Named as the real model, so that the shipped bank's precomputed rows are used; it embeds
    nothing (a bank sentence missing from them is for ``bench/triage_bank_vectors.py``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError(f"the shipped bank's rows lack {len(texts)} sentence(s): run bench/triage_bank_vectors.py")


def unit_texts(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Cache key -> first text seen, for every unit the detector would embed."""
    found: dict[str, str] = {}
    for row in rows:
        sentences = report_sentences(row["text"], "")
        units, _ = with_neighbours(sentences, sentence_languages([s.text for s in sentences]))
        for unit in units:
            found.setdefault(unit.key, unit.text)
        # The report read as a whole (``context.ordinary_as_a_whole``), each message and all of them.
        parts = {s.part for s in sentences}
        for chosen in [frozenset(parts)] + [frozenset({p}) for p in parts]:
            text = whole_text(sentences, chosen)
            if text:
                found.setdefault(cache_key(text), text)
    return found


def embed_missing(known: dict[str, np.ndarray], texts: dict[str, str], name: str, cache: Path, what: str) -> str:
    """Embed the ``texts`` (key -> text) not in ``known`` yet, add them and save every row to ``cache``;
    the model's name (``name`` when nothing was missing)."""
    missing = [k for k in texts if k not in known]
    if not missing:
        return name
    embedder, status = shared_embedder()
    if embedder is None:
        raise SystemExit(f"model unavailable: {status.detail}")
    print(f"embedding {len(missing)} {what}", file=sys.stderr)
    for start in range(0, len(missing), 64):
        batch = missing[start:start + 64]
        known.update(zip(batch, embedder.embed([texts[k] for k in batch]), strict=True))
    keys = sorted(known)
    np.savez(cache, model=np.array(embedder.name), keys=np.array(keys), vectors=np.vstack([known[k] for k in keys]))
    return embedder.name


def cached_rows(rows: list[dict[str, Any]], cache: Path) -> tuple[str, dict[str, np.ndarray]]:
    """(model name, key -> row) for every dev unit, embedding the ones not cached yet."""
    known: dict[str, np.ndarray] = {}
    name = ""
    if cache.exists():
        with np.load(cache, allow_pickle=False) as data:
            name = str(data["model"])
            known = {str(k): v for k, v in zip(data["keys"], data["vectors"], strict=True)}
    return embed_missing(known, unit_texts(rows), name, cache, "dev units"), known


def prepared(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Per report, what does not depend on the scoring: the rules' verdict, the units and languages."""
    rules = compile_rules(load_rules())
    found = []
    for row in rows:
        sentences = report_sentences(row["text"], "")
        languages = sentence_languages([s.text for s in sentences])
        units, unit_languages = with_neighbours(sentences, languages)
        found.append((triage(row["text"], rules), sentences, units, unit_languages))
    return found


def scored(known: dict[str, np.ndarray], index: BankIndex, reports: list[tuple[Any, ...]]) -> dict[str, Neighbourhood]:
    """Every dev unit's neighbourhood, by cache key (the scoring as the code stands now)."""
    keys = sorted({unit.key for _, _, units, _ in reports for unit in units})
    hoods: dict[str, Neighbourhood] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        hoods.update(zip(chunk, score_vectors(np.vstack([known[k] for k in chunk]), [index]), strict=True))
    return hoods


def measure(rows: list[dict[str, Any]], known: dict[str, np.ndarray], index: BankIndex,
            reports: list[tuple[Any, ...]], limits: Thresholds = DEFAULT_THRESHOLDS,
            hoods: dict[str, Neighbourhood] | None = None) -> str:
    """The summary line of ``bench/triage.py`` for the scoring and tiers as the code stands now
    (``Detector.assess`` without the rules and languages, which ``prepared`` computed once)."""
    hoods = hoods if hoods is not None else scored(known, index, reports)
    for row, (decision, sentences, units, unit_languages) in zip(rows, reports, strict=True):
        unit_hoods = [hoods[u.key] for u in units]
        kept = judged_units(sentences, units, unit_hoods)
        final = decide(decision, [units[i] for i in kept], [unit_languages[i] for i in kept],
                       [unit_hoods[i] for i in kept], index.bank.languages, "dev cache", limits,
                       whole=whole_reading(known, index, sentences))
        row["got"] = final.urgency
        row["why"] = final.explanation()
    return summarise("ALL", rows)


def whole_reading(known: dict[str, np.ndarray], index: BankIndex, sentences: list[Any]) -> Any:
    """The detector's reading of a report as a whole, from the cached rows (a combination of messages
    ``unit_texts`` did not embed is embedded now)."""
    def whole(parts: frozenset[int]) -> tuple[str, Neighbourhood] | None:
        text = whole_text(sentences, parts)
        if not text:
            return None
        key = cache_key(text)
        if key not in known:
            embedder, status = shared_embedder()
            if embedder is None:
                raise SystemExit(f"model unavailable: {status.detail}")
            known[key] = embedder.embed([text])[0]
        return text, score_vectors(known[key][None, :], [index])[0]
    return whole


def head_limits(gate: str) -> Thresholds:
    """The shipped thresholds, with the head's two gates as ``CONFIDENT:REVIEW`` says."""
    if gate == "shipped":
        return DEFAULT_THRESHOLDS
    confident, review = (None if part == "none" else float(part) for part in gate.split(":"))
    return replace(DEFAULT_THRESHOLDS, confident_head=confident, review_head=review)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="Labelled reports (default: the dev set).")
    parser.add_argument("--cache", type=Path, default=CACHE, help="Where the dev units' rows are kept.")
    parser.add_argument("--weights", default=f"0,{scoring.METRIC_WEIGHT}",
                        help="Shares of the fitted metric's vote to measure (comma-separated).")
    parser.add_argument("--heads", default="shipped",
                        help="Gates of the bank's linear head to measure, comma-separated: 'shipped' (the "
                             "thresholds as they are), or CONFIDENT:REVIEW log-odds ('none' = off), e.g. "
                             "none:none,-1:none,0:-3")
    parser.add_argument("--misses", action="store_true", help="List misses and paged negatives of the last.")
    args = parser.parse_args()
    rows = load(args.files or sorted(DEV.glob("*.jsonl")))
    name, known = cached_rows(rows, args.cache)
    index = with_category_examples(index_bank(shipped_bank(), CachedOnly(name)), CachedOnly(name))  # type: ignore[arg-type]
    reports = prepared(rows)
    for weight in (float(w) for w in args.weights.split(",")):
        scoring.METRIC_WEIGHT = weight
        hoods = scored(known, index, reports)
        for gate in args.heads.split(","):
            limits = head_limits(gate)
            title = f"weight {weight:<4} head {gate:<9}"
            print(measure(rows, known, index, reports, limits, hoods).replace("ALL" + " " * 25, title))
            print(f"  {ordinary_line(rows)}")
    if args.misses:
        for row in rows:
            if (row["tier"] == "emergency" and RANK[row["got"]] > 1) or (row["hard_negative"] and row["got"] == "emergency"):
                print(f"{'MISSED' if row['tier'] == 'emergency' else 'PAGED '} {row['id']} got {row['got']}: "
                      f"{row['text'][:100]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
