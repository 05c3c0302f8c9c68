"""Which sentences of the *wrapping* (not the report) reach the model and raise a report's tier.

``bench/triage.py --email`` wraps each dev report as real mail (``tests/triage_dev.py``: greetings,
signatures, disclaimers, forwards, quoted replies, HTML) and pages far more false alarms than the
same words as plain text. This finds out why, per layout: each report is read as mail (wrapped,
extracted, cleaned and cut as the worker does), the sentences the plain report does not have are
its wrapping, and the report is decided twice, with and without the wrapping's sentences (and the
pairs that join them to the report). A report whose tier the wrapping raises is counted under its
layout, and each wrapping sentence that alone raises it that far is named with its nearest
reviewed example.

Every unit's row is embedded once and kept in ``--cache`` (the dev set's own cache of
``bench/triage_metric.py`` is read too), so a rerun after a cleaning or bank change costs the
extraction, the cleaning and the scoring only (a minute or two). It also prints the summary line of
``bench/triage.py`` for the dev set plain and as mail (the fast harness: ``Detector.assess`` step
by step; the full run is the reference).

    python bench/triage_wrap.py                 # per layout: reports raised by their wrapping
    python bench/triage_wrap.py --top 30 --style gmail-forward
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from triage import DEV, RANK, as_mail_text, load, summarise  # noqa: E402
from triage_metric import CACHE as DEV_CACHE  # noqa: E402
from triage_metric import CachedOnly, embed_missing  # noqa: E402

from stopit_mail.cases.detect.bank import BankIndex, index_bank, shipped_bank  # noqa: E402
from stopit_mail.cases.detect.category_bank import with_category_examples  # noqa: E402
from stopit_mail.cases.detect.detector import judged_units, pair_members, with_neighbours, within_budget  # noqa: E402
from stopit_mail.cases.detect.language import sentence_languages  # noqa: E402
from stopit_mail.cases.detect.scoring import Neighbourhood, score_vectors  # noqa: E402
from stopit_mail.cases.detect.sentences import MAX_SENTENCES, MODEL_BUDGET_BYTES, report_sentences  # noqa: E402
from stopit_mail.cases.detect.tiers import decide  # noqa: E402
from stopit_mail.cases.triage import CompiledRules, compile_rules, load_rules, triage  # noqa: E402
from stopit_mail.cases.triage_decision import TriageDecision, most_urgent  # noqa: E402

from triage_dev import style_for  # noqa: E402

CACHE = Path("/tmp/stopit-triage-mail-vectors.npz")


class Reading:
    """One report as the detector reads it: the rules' verdict, the units the model scores (after
    the budget and the pairs), their languages, and which units are the wrapping's."""

    def __init__(self, text: str, subject: str, rules: CompiledRules, own_keys: set[str] | None = None) -> None:
        self.decision = triage(text, rules, subject=subject)
        self.sentences = report_sentences(text, subject)
        languages = sentence_languages([s.text for s in self.sentences])
        self.read = within_budget(self.sentences)
        self.units, self.languages = with_neighbours(self.sentences[:self.read], languages[:self.read],
                                                     MODEL_BUDGET_BYTES)
        self.long = self.read < len(self.sentences) or len(self.sentences) >= MAX_SENTENCES
        wrapping = {i for i, s in enumerate(self.sentences[:self.read]) if own_keys is not None and s.key not in own_keys}
        self.wrapping = [i < self.read and i in wrapping or i >= self.read and any(
            j in wrapping for j in pair_members(self.sentences[:self.read], i - self.read)) for i in range(len(self.units))]

    def decide(self, hoods: dict[str, Neighbourhood], index: BankIndex, keep: list[int] | None = None) -> TriageDecision:
        """``Detector.assess`` from here on, over the units ``keep`` (all by default)."""
        unit_hoods = [hoods[u.key] for u in self.units]
        kept = [i for i in judged_units(self.sentences[:self.read], self.units, unit_hoods) if keep is None or i in keep]
        decided = decide(copy.deepcopy(self.decision), [self.units[i] for i in kept], [self.languages[i] for i in kept],
                         [unit_hoods[i] for i in kept], index.bank.languages, "cache")
        if self.long:
            decided.urgency = most_urgent(decided.urgency, "urgent")
        return decided


def embedded(units: dict[str, str], cache: Path) -> tuple[str, dict[str, np.ndarray]]:
    """(model name, key -> row) for every unit, reading both caches and embedding what is missing."""
    known: dict[str, np.ndarray] = {}
    name = ""
    for path in (DEV_CACHE, cache):
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                name = str(data["model"])
                known.update((str(k), v) for k, v in zip(data["keys"], data["vectors"], strict=True))
    return embed_missing(known, units, name, cache, "units"), known


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=CACHE, help="Where the units' rows are kept.")
    parser.add_argument("--top", type=int, default=12, help="Wrapping sentences to name per layout.")
    parser.add_argument("--style", help="Only this layout.")
    args = parser.parse_args()
    rows = load(sorted(DEV.glob("*.jsonl")))
    if args.style:
        rows = [r for r in rows if style_for(r["raw"]) == args.style]
    rules = compile_rules(load_rules())
    plain, mail = [], []
    for row in rows:
        own = Reading(row["text"], "", rules)
        plain.append(own)
        mail.append(Reading(*as_mail_text(row), rules, {s.key for s in own.sentences}))
    units = {u.key: u.text for reading in plain + mail for u in reading.units}
    name, known = embedded(units, args.cache)
    index = with_category_examples(index_bank(shipped_bank(), CachedOnly(name)), CachedOnly(name))  # type: ignore[arg-type]
    keys = sorted(units)
    hoods: dict[str, Neighbourhood] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        hoods.update(zip(chunk, score_vectors(np.vstack([known[k] for k in chunk]), [index]), strict=True))
    raised: dict[str, Counter[str]] = defaultdict(Counter)
    culprits: dict[str, Counter[str]] = defaultdict(Counter)
    styles: Counter[str] = Counter()
    for row, own, wrapped in zip(rows, plain, mail, strict=True):
        style = style_for(row["raw"])
        styles[style] += 1
        row["got"] = own.decide(hoods, index).urgency
        full = wrapped.decide(hoods, index)
        mine = [i for i, w in enumerate(wrapped.wrapping) if not w]
        alone = wrapped.decide(hoods, index, mine).urgency
        row["mail"] = full.urgency
        if RANK[full.urgency] >= RANK[alone]:
            continue
        kind = "hard-negative" if row["hard_negative"] else row["tier"]
        raised[style][f"{kind}->{full.urgency}"] += 1
        for i, is_wrapping in enumerate(wrapped.wrapping):
            if is_wrapping and RANK[wrapped.decide(hoods, index, [*mine, i]).urgency] == RANK[full.urgency]:
                unit, hood = wrapped.units[i], hoods[wrapped.units[i].key]
                example, score = hood.by_label.get("emergency", (hood.nearest, hood.similarity))
                culprits[style][f"{full.urgency:<18} {unit.text[:90]!r} ~ {example.sentence[:50]!r} {score:.2f}"] += 1
    print(summarise("plain (fast harness)", rows))
    for row in rows:
        row["got"] = row["mail"]
    print(summarise("as mail (fast harness)", rows))
    print("-- reports whose wrapping raised their tier, per layout")
    for style in sorted(styles):
        total = sum(raised[style].values())
        print(f"{style:<18} {total:>4}/{styles[style]:<4} " + "  ".join(f"{k}:{v}" for k, v in sorted(raised[style].items())))
        for text, count in culprits[style].most_common(args.top):
            print(f"    {count:>4}  {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
