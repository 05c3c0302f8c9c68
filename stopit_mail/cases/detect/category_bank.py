"""Reviewed examples of ordinary reports, one per category, that only name a report's category.

The triage bank's examples vote on urgency *and* on category: every line there moves its
neighbourhood's label vote. Ordinary reports written for their category (groping in the corridor, a
teacher mocking a pupil, a senior's "initiation") sit, for e5, among emergencies told in the same
voice, and a batch of them cost the dev set emergencies at the reviewer tier twice (see the bank's
README). So the examples that teach categories ship apart, in ``triage_categories/<lang>.tsv``
(``category<TAB>sentence``), and join only each sentence's few nearest examples for the category vote
(``scoring.Neighbourhood.nearest_few``, ``categories``). They never reach the label vote, the head or
the fitted space: urgency cannot move because of them, whatever they say.

Only the routine categories are allowed here (a danger category from an ordinary example would be
the whisper the category vote is built to ignore). Rows come from the shipped precomputed file when
it holds them (``bench/triage_bank_vectors.py`` embeds these sentences too), else from a per-machine
cache, else the model embeds them once.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from stopit_mail.cases.detect.bank import (
    BankError,
    BankIndex,
    Example,
    embedded_rows,
    hubness,
    read_shipped,
    user_cache_dir,
)
from stopit_mail.cases.detect.categories import DANGER, ORDINARY_SOURCE
from stopit_mail.cases.detect.model import Embedder
from stopit_mail.cases.triage import CATEGORIES

log = logging.getLogger(__name__)

CATEGORY_FOLDER = "triage_categories"
# Categories that page or refer on their own never come from an ordinary example.
ROUTINE_CATEGORIES = frozenset(CATEGORIES) - DANGER - {"other"}


@dataclass(frozen=True)
class CategoryIndex:
    """The category examples, one embedding row each (same order), and each row's hubness."""

    examples: tuple[Example, ...]
    vectors: np.ndarray
    hubs: np.ndarray
    digest: str


def parse_category_line(line: str, where: str, language: str) -> Example | None:
    """One ``category<TAB>sentence`` line, or None for a comment or blank line; BankError otherwise."""
    if not line.strip() or line.startswith("#"):
        return None
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 2:
        raise BankError(f"{where}: expected category<TAB>sentence, found {len(parts)} field(s)")
    category, sentence = (p.strip() for p in parts)
    if category not in ROUTINE_CATEGORIES:
        raise BankError(f'{where}: category "{category}" is not a routine category '
                        f'({", ".join(sorted(ROUTINE_CATEGORIES))})')
    if not sentence:
        raise BankError(f"{where}: empty sentence")
    return Example("negative", category, sentence, language, ORDINARY_SOURCE)


@lru_cache(maxsize=1)
def shipped_category_examples() -> tuple[Example, ...]:
    """Every shipped ``triage_categories/<lang>.tsv``, validated (a malformed one is a bug: it raises)."""
    return tuple(read_shipped(CATEGORY_FOLDER, parse_category_line))


_INDEXES: dict[tuple[str, str], CategoryIndex] = {}


def category_index(examples: tuple[Example, ...], embedder: Embedder, cache_dir: Path | None = None) -> CategoryIndex:
    """Embed ``examples`` once per process and each sentence once per machine (as ``bank.index_bank``;
    its own cache files, in a ``categories`` subfolder, so neither cache overwrites the other)."""
    digest = hashlib.sha256("".join(f"{e.category}\t{e.language}\t{e.sentence}\n" for e in examples).encode()
                            ).hexdigest()
    key = (digest, embedder.name)
    if key in _INDEXES:
        return _INDEXES[key]
    folders = [f / "categories" for f in (cache_dir, user_cache_dir()) if f is not None]
    vectors = embedded_rows([e.sentence for e in examples], embedder, folders, "category example")
    index = CategoryIndex(examples, vectors, hubness(vectors), digest)
    _INDEXES[key] = index
    return index


def with_category_examples(index: BankIndex, embedder: Embedder, cache_dir: Path | None = None,
                           examples: tuple[Example, ...] | None = None) -> BankIndex:
    """``index`` carrying the category examples (the shipped ones unless ``examples`` are given)."""
    chosen = shipped_category_examples() if examples is None else examples
    return replace(index, categories=category_index(chosen, embedder, cache_dir) if chosen else None)
