"""The detector: rules first, then the model over each cleaned sentence, then the tiers.

One ``Detector`` lives per worker process (``shared_detector``): it holds the model, the shipped
bank's embeddings and a cache of sentence embeddings keyed by the normalised sentence, so a flood
of near-identical reports (a viral threat forwarded by thousands) is embedded once. Anything the
model does wrong at run time falls back to the rules with every report at least *urgent*; report
text never makes triage raise.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from stopit_mail.cases.detect import bank_state
from stopit_mail.cases.detect.bank import LABELS, Bank, BankIndex, Example, index_bank, make_bank, shipped_bank
from stopit_mail.cases.detect.category_bank import with_category_examples
from stopit_mail.cases.detect.language import sentence_languages
from stopit_mail.cases.detect.model import Embedder, ModelStatus, StandInEmbedder, shared_embedder
from stopit_mail.cases.detect.scoring import Neighbourhood, score_vectors
from stopit_mail.cases.detect.sentences import (
    MAX_SENTENCES,
    MODEL_BUDGET_BYTES,
    Sentence,
    report_sentences,
    word_count,
)
from stopit_mail.cases.detect.tiers import DEFAULT_THRESHOLDS, Thresholds, decide, language_list, without_model
from stopit_mail.cases.triage import CompiledRules, TriageRule, triage
from stopit_mail.cases.triage_decision import TriageDecision, most_urgent

log = logging.getLogger(__name__)

# About 30 MB of float32 rows: hours of a flood's distinct sentences.
SENTENCE_CACHE_SIZE = 20_000
# Reports whose rules' verdict, sentences and languages are kept for a second look with an
# organisation's own examples (more than the worker's write batch: all of a batch is read first).
READINGS = 32


class Detector:
    """Assess reports with the rules plus, when it loaded, the model against the reviewed examples."""

    def __init__(self, embedder: Embedder | None, status: ModelStatus, bank: Bank | None = None,
                 cache_dir: Path | None = None, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                 hold_rule_emergencies: bool = False, category_examples: tuple[Example, ...] | None = None) -> None:
        self.embedder = embedder
        # The examples that only name categories (``category_bank``; None: the shipped ones).
        self.category_examples = category_examples
        self.status = status
        self.bank = bank if bank is not None else shipped_bank()
        self.cache_dir = cache_dir
        self.thresholds = thresholds
        self.hold_rule_emergencies = hold_rule_emergencies
        self._index: BankIndex | None = None
        self._index_lock = threading.Lock()
        self._warming = False
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._readings: OrderedDict[tuple[str, str], _Reading] = OrderedDict()
        self._readings_lock = threading.Lock()
        self.embedded = 0  # sentences actually run through the model (the rest came from the cache)
        self.looked_up = 0  # sentences asked for (embedded / looked_up: the cache's miss rate)

    def index(self, on_embedding: Callable[[int], None] | None = None) -> BankIndex:
        """The shipped bank's embeddings (precomputed, cached on disk, or computed, on first use)."""
        with self._index_lock:
            if self._index is None:
                assert self.embedder is not None
                self._index = with_category_examples(index_bank(self.bank, self.embedder, self.cache_dir, on_embedding),
                                                     self.embedder, self.cache_dir, self.category_examples)
            return self._index

    def warm(self, background: bool = False) -> None:
        """Build the bank's index now, or in a thread (reports meanwhile are triaged on the rules).

        Its progress is recorded for `stopit status` (``bank_state``): loading, embedding the
        sentences the precomputed file lacks (minutes), ready, or failed.
        """
        self._warming = True
        count = len(self.bank.examples)
        bank_state.record(self.cache_dir, bank_state.EMBEDDING, f"loading {count} reviewed examples")
        if background:
            threading.Thread(target=self._warm, name="stopit-triage-bank", daemon=True).start()
            return
        self._warm()

    def _warm(self) -> None:
        def embedding(missing: int) -> None:
            bank_state.record(self.cache_dir, bank_state.EMBEDDING,
                              f"embedding {missing} of {len(self.bank.examples)} reviewed examples that the "
                              f"precomputed file lacks")
        try:
            self.index(embedding)
        except (RuntimeError, ValueError, OSError, MemoryError) as exc:
            log.exception("TRIAGE MODEL: the reviewed examples could not be embedded; rules only")
            bank_state.record(self.cache_dir, bank_state.FAILED, f"the reviewed examples could not be embedded: {exc}")
        else:
            bank_state.record(self.cache_dir, bank_state.READY, f"{len(self.bank.examples)} reviewed examples ready")
        finally:
            self._warming = False

    def embed(self, sentences: Sequence[str]) -> np.ndarray:
        """Rows for ``sentences``, from the per-process cache where the normalised text was seen."""
        assert self.embedder is not None
        keys = [Sentence(s).key for s in sentences]
        self.looked_up += len(keys)
        missing: dict[str, str] = {}
        for key, sentence in zip(keys, sentences, strict=True):
            if key not in self._vectors:
                missing.setdefault(key, sentence)
        if missing:
            fresh = self.embedder.embed(list(missing.values()))
            self.embedded += len(missing)
            for key, row in zip(missing, fresh, strict=True):
                self._vectors[key] = row
        rows = []
        for key in keys:
            self._vectors.move_to_end(key)
            rows.append(self._vectors[key])
        while len(self._vectors) > SENTENCE_CACHE_SIZE:
            self._vectors.popitem(last=False)
        return np.vstack(rows) if rows else np.zeros((0, 384), dtype=np.float32)

    def assess(self, text: str, rules: Sequence[TriageRule] | CompiledRules, subject: str = "",
               examples: Sequence[Example] = ()) -> TriageDecision:
        """Rules, then the model over each sentence (with ``examples``, an organisation's own)."""
        decision, sentences, languages = self._read(text, rules, subject)
        if self.embedder is None:
            return without_model(decision, languages, self.status.detail)
        if self._index is None and self._warming:
            return without_model(decision, languages, "still embedding its reviewed examples after start-up")
        read = within_budget(sentences)
        units, unit_languages = with_neighbours(sentences[:read], languages[:read], MODEL_BUDGET_BYTES)
        try:
            indexes = [self.index()]
            if examples:
                indexes.append(self._examples_index(examples))
            vectors = self.embed([u.text for u in units])
            hoods = score_vectors(vectors, indexes) if units else []
            kept = judged_units(sentences[:read], units, hoods)
            units, unit_languages, hoods = [units[i] for i in kept], [unit_languages[i] for i in kept], \
                [hoods[i] for i in kept]
        except (RuntimeError, ValueError, OSError, MemoryError) as exc:
            log.exception("triage model failed on a report; falling back to the rules")
            return without_model(decision, languages, f"failed on this report: {exc}")
        bank_languages = self.bank.languages | {e.language for e in examples}

        def whole(parts: frozenset[int]) -> tuple[str, Neighbourhood] | None:
            text = whole_text(sentences[:read], parts)
            try:
                return (text, score_vectors(self.embed([text]), indexes)[0]) if text else None
            except (RuntimeError, ValueError, OSError, MemoryError):
                log.exception("triage model failed reading a report as a whole; its sentences decide")
                return None

        decided = decide(decision, units, unit_languages, hoods, bank_languages, self.embedder.name,
                         self.thresholds, self.hold_rule_emergencies, whole)
        if read < len(sentences) or len(sentences) >= MAX_SENTENCES:
            # Too long for the model's budget: the rules read it all, a person reads it soon.
            decided.urgency = most_urgent(decided.urgency, "urgent")
            decided.languages = language_list(languages)
            decided.notes.append(f"the model read only the first {read} sentences of this long report (the rules "
                                 f"read all of it): at least urgent")
        return decided

    def _read(self, text: str, rules: Sequence[TriageRule] | CompiledRules,
              subject: str) -> tuple[TriageDecision, list[Sentence], list[str]]:
        """The rules' verdict, the sentences and their languages, kept for the report's second look.

        The worker judges a report in a step's `prepare`, then again with the organisation's own
        examples in `process`, inside the write transaction; only the scoring differs, so the rules
        (over up to 200,000 characters), the cleaning and the language identification run once.
        """
        key = (subject, text)
        with self._readings_lock:
            found = self._readings.get(key)
            if found is not None and found.rules is rules:
                self._readings.move_to_end(key)
                return found.decision.copy(), found.sentences, found.languages
        decision = triage(text, rules, subject=subject)
        sentences = report_sentences(text, subject)
        languages = sentence_languages([s.text for s in sentences])
        with self._readings_lock:
            self._readings[key] = _Reading(rules, decision.copy(), sentences, languages)
            while len(self._readings) > READINGS:
                self._readings.popitem(last=False)
        return decision, sentences, languages

    def _examples_index(self, examples: Sequence[Example]) -> BankIndex:
        bank = make_bank(examples)
        labels = np.array([LABELS.index(e.label) for e in examples], dtype=np.int8)
        return BankIndex(bank, self.embed([e.sentence for e in examples]), labels)


@dataclass(frozen=True)
class _Reading:
    """A report as read before the model: with which rules, their verdict, sentences, languages."""

    rules: Sequence[TriageRule] | CompiledRules
    decision: TriageDecision
    sentences: list[Sentence]
    languages: list[str]


_installed: list[Detector] = []


def install_detector(detector: Detector | None) -> None:
    """Make ``detector`` the one every worker step uses (None: back to the real one).

    For tests that exercise the pipeline around triage rather than triage itself, and for
    benchmarks comparing detectors; production code never calls it.
    """
    _installed[:] = [detector] if detector is not None else []


def shared_detector(cache_dir: Path | None = None) -> Detector:
    """The worker's detector: the pinned model (or none, loudly) and the shipped bank."""
    return _installed[0] if _installed else _real_detector(cache_dir)


def with_neighbours(sentences: Sequence[Sentence], languages: Sequence[str],
                    budget: int | None = None) -> tuple[list[Sentence], list[str]]:
    """The sentences, then each body sentence joined with the next one (while the pairs and the
    sentences together stay within ``budget`` UTF-8 bytes, when one is given).

    Meaning often spans two sentences ("a senior said he is bringing something friday." "everyone
    in the cafeteria better not be there."): the pair is scored as well as each sentence.
    """
    units, unit_languages = list(sentences), list(languages)
    left = budget - sum(_size(s) for s in sentences) if budget is not None else None
    for i in range(len(sentences) - 1):
        first, second = sentences[i], sentences[i + 1]
        if _joinable(first, second):
            pair = Sentence(f"{first.text} {second.text}", "body", first.part)
            if left is not None:
                left -= _size(pair)
                if left < 0:
                    break
            units.append(pair)
            unit_languages.append(languages[i])
    return units, unit_languages


def whole_text(sentences: Sequence[Sentence], parts: frozenset[int]) -> str:
    """The report as one text for the model: its sentences of the messages ``parts``, in order (a
    forwarded circular below the report is another message and says nothing about it)."""
    return " ".join(s.text for s in sentences if s.part in parts)


def within_budget(sentences: Sequence[Sentence], budget: int = MODEL_BUDGET_BYTES) -> int:
    """How many of the first ``sentences`` the model reads within ``budget`` UTF-8 bytes (its CPU
    grows with the text it reads; the sentences come first, their joined pairs take what is left)."""
    total = 0
    for count, sentence in enumerate(sentences):
        total += _size(sentence)
        if total > budget:
            return count
    return len(sentences)


def _size(sentence: Sentence) -> int:
    return len(sentence.text.encode("utf-8", "surrogatepass"))


# Set (to any value) by the test suite for every process it starts: the deterministic stand-in
# replaces the model, so that hundreds of pipeline tests neither load the model nor embed the
# bank. Never set in production: start-up and `stopit status` name the stand-in when it is.
STAND_IN_VARIABLE = "STOPIT_TRIAGE_STAND_IN"


# A body sentence of fewer words than this, scored within a joined pair, is judged only there.
FRAGMENT_WORDS = 4


def judged_units(sentences: Sequence[Sentence], units: Sequence[Sentence], hoods: Sequence[Neighbourhood]) -> list[int]:
    """Which of ``with_neighbours``'s ``units`` the tiers judge (indexes), given their ``hoods``.

    - A pair containing a sentence someone reviewed word for word is judged by that review.
    - A fragment ("Good afternoon.", "My son is 11.", "He told me today.", "no es la primera vez.":
      under ``FRAGMENT_WORDS`` words) that is also read joined with a neighbour is judged in that
      pair only, unless it is a reviewed example word for word. Alone, e5 places such fragments
      among whatever reviewed examples are as short: "Good afternoon." sat 0.90 from "tonight's the
      night, goodbye" (an emergency vote of 61%) and paged the chain for a parent's complaint about a
      classmate. Within its pair it is read with what it introduces. On route17's new routine
      reports (bench/triage_metric.py) this took 57 -> 54 of 247 off the reviewer tier, dev's older
      routine reports 25 -> 23 of 249 and hard negatives there 191 -> 185 of 556, with every dev
      emergency kept (677 of 683; 3 words and under; 5 cost one, 6 two).
    """
    count = len(sentences)
    starts = [i for i in range(count - 1) if _joinable(sentences[i], sentences[i + 1])]
    in_pair = {member for start in starts[:len(units) - count] for member in (start, start + 1)}
    kept = []
    for i in range(len(units)):
        if i >= count:
            start = starts[i - count]
            if not (hoods[start].same_wording or hoods[start + 1].same_wording):
                kept.append(i)
        elif i not in in_pair or hoods[i].same_wording or word_count(units[i].text) >= FRAGMENT_WORDS:
            kept.append(i)
    return kept


def pair_members(sentences: Sequence[Sentence], pair: int) -> tuple[int, int]:
    """The two sentences of ``with_neighbours``'s ``pair``-th joined pair."""
    starts = [i for i in range(len(sentences) - 1) if _joinable(sentences[i], sentences[i + 1])]
    return starts[pair], starts[pair] + 1


def _joinable(first: Sentence, second: Sentence) -> bool:
    """Two neighbours of the body in the same message (never the reporter's words and a forward)."""
    return first.field == second.field == "body" and first.part == second.part


@lru_cache(maxsize=2)
def _real_detector(cache_dir: Path | None) -> Detector:
    if os.environ.get(STAND_IN_VARIABLE):
        stand_in = StandInEmbedder()
        log.error("TRIAGE MODEL REPLACED by the test stand-in (%s is set)", STAND_IN_VARIABLE)
        return Detector(stand_in, ModelStatus(True, stand_in.name, f"test stand-in ({STAND_IN_VARIABLE} is set)"),
                        cache_dir=cache_dir)
    embedder, status = shared_embedder()
    return Detector(embedder, status, cache_dir=cache_dir)
