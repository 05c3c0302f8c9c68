"""The bank of reviewed example sentences, and its embeddings computed once.

The bank ships as data (``stopit_mail/cases/triage_bank/<lang>.tsv``, ``label<TAB>category<TAB>
sentence``); an organisation adds its own reviewed examples in the database (`stopit triage
examples`). Embedding thousands of sentences takes minutes on one core, so the matrix is kept per
process and on disk, per sentence, as ``triage-bank-<model hash>.npz`` (in the data folder's cache
and the per-user cache): an edited bank embeds only its new sentences, a different model misses the
cache, and a corrupt file is recomputed.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stopit_mail.cases.detect.bank_vectors import sentence_key, shipped_rows
from stopit_mail.cases.detect.fit_cache import Fit, fit_key, fitting_source, load_fit, store_fit
from stopit_mail.cases.detect.head import Head, fit_head
from stopit_mail.cases.detect.model import Embedder
from stopit_mail.cases.detect.space import Space, fit_space
from stopit_mail.cases.triage import CATEGORIES

if TYPE_CHECKING:
    from stopit_mail.cases.detect.category_bank import CategoryIndex

log = logging.getLogger(__name__)

LABELS = ("emergency", "concern", "negative")
BANK_PACKAGE = "stopit_mail.cases"
BANK_FOLDER = "triage_bank"


class BankError(Exception):
    """A bank file or an organisation's example is malformed; the message says where and how."""


@dataclass(frozen=True)
class Example:
    """One reviewed sentence: what it is (label, category), its language and where it came from."""

    label: str
    category: str
    sentence: str
    language: str
    source: str = "shipped"


@dataclass(frozen=True)
class Bank:
    """Examples plus a digest that changes whenever any of them does."""

    examples: tuple[Example, ...]
    digest: str

    @cached_property
    def languages(self) -> frozenset[str]:
        """Computed once: triage asks for every report, and the bank has thousands of examples."""
        return frozenset(e.language for e in self.examples)


def parse_line(line: str, where: str, language: str, categories: Iterable[str]) -> Example | None:
    """One bank line, or None for a comment or blank line; BankError for anything malformed."""
    if not line.strip() or line.startswith("#"):
        return None
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 3:
        raise BankError(f"{where}: expected label<TAB>category<TAB>sentence, found {len(parts)} field(s)")
    label, category, sentence = (p.strip() for p in parts)
    if label not in LABELS:
        raise BankError(f'{where}: label "{label}"; expected one of {", ".join(LABELS)}')
    if category not in set(categories):
        raise BankError(f'{where}: unknown category "{category}"')
    if not sentence:
        raise BankError(f"{where}: empty sentence")
    return Example(label, category, sentence, language)


def make_bank(examples: Iterable[Example]) -> Bank:
    """A bank of ``examples`` with its digest."""
    kept = tuple(examples)
    digest = hashlib.sha256()
    for e in kept:
        digest.update(f"{e.label}\t{e.category}\t{e.language}\t{e.sentence}\n".encode())
    return Bank(kept, digest.hexdigest())


@lru_cache(maxsize=1)
def shipped_bank() -> Bank:
    """Every shipped ``<lang>.tsv``, validated (a malformed shipped file is a bug: it raises)."""
    return make_bank(read_shipped(BANK_FOLDER, lambda line, where, language:
                                  parse_line(line, where, language, CATEGORIES)))


def read_shipped(folder_name: str, parse: Callable[[str, str, str], Example | None]) -> list[Example]:
    """The examples of every ``<lang>.tsv`` in the package's ``folder_name``, each line read with
    ``parse(line, where, language)`` (None for a comment)."""
    folder = resources.files(BANK_PACKAGE).joinpath(folder_name)
    examples = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".tsv"):
            continue
        language = entry.name.removesuffix(".tsv")
        for number, line in enumerate(entry.read_text(encoding="utf-8").splitlines(), 1):
            example = parse(line, f"{folder_name}/{entry.name}:{number}", language)
            if example is not None:
                examples.append(example)
    return examples


@dataclass(frozen=True)
class BankIndex:
    """A bank with one embedding row per example (same order), and each example's hubness.

    ``space`` is the linear metric fitted on the shipped bank (``space.fit_space``), ``projected``
    the rows in it and ``projected_hubs`` their hubness there. An organisation's examples have
    none of these: scoring projects them with the shipped bank's space, and they are no hubs.
    ``head`` is the linear head fitted on the shipped bank (``head.fit_head``); an organisation's
    examples have none and refit nothing. ``categories`` are the category examples
    (``category_bank``): they join each sentence's nearest examples for its category only.
    """

    bank: Bank
    vectors: np.ndarray
    labels: np.ndarray  # index into LABELS, one per example
    # How much more than the bank's typical example this one resembles everything (see ``hubness``);
    # zeros for an organisation's few examples.
    hubs: np.ndarray | None = None
    space: Space | None = None
    projected: np.ndarray | None = None
    projected_hubs: np.ndarray | None = None
    head: Head | None = None
    categories: CategoryIndex | None = None

    def hub_penalty(self, projected: bool = False) -> np.ndarray:
        """What scoring subtracts from each example's similarities (CSLS: half the hubness), for
        e5's cosines or (``projected``) for the fitted space's."""
        hubs = self.projected_hubs if projected else self.hubs
        return np.zeros(len(self.labels), np.float32) if hubs is None else hubs * np.float32(0.5)

    def in_space(self, space: Space) -> np.ndarray:
        """The rows in ``space``: kept for the shipped bank, computed for an organisation's few."""
        if self.projected is not None and self.space is space:
            return self.projected
        return space.project(self.vectors)


def fitted_index(bank: Bank, vectors: np.ndarray, cache_dirs: Sequence[Path] = ()) -> BankIndex:
    """``bank`` with its rows and hubness, and the space and the head fitted on them.

    The fit is read from the first of ``cache_dirs`` that holds it for these rows, labels and
    fitting code (``fit_cache``), else computed and stored in each of them.
    """
    labels = np.array([LABELS.index(e.label) for e in bank.examples], dtype=np.int8)
    key = fit_key(vectors, labels, _fitting_code())
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    fit = next((found for folder in cache_dirs if (found := load_fit(folder, key, len(vectors), dim)) is not None), None)
    space = fit.space if fit is not None else fit_space(vectors, labels)
    projected = None if space is None else space.project(vectors)
    if fit is None:
        head = fit_head(vectors, labels, LABELS.index("emergency"), LABELS.index("negative"))
        fit = Fit(hubness(vectors), space, None if projected is None else hubness(projected), head)
        for folder in cache_dirs:
            store_fit(folder, key, fit)
    return BankIndex(bank, vectors, labels, fit.hubs, space, projected, fit.projected_hubs, fit.head)


@lru_cache(maxsize=1)
def _fitting_code() -> bytes:
    """What a stored fit must have been made by (read once per process)."""
    return fitting_source(inspect.getsource(hubness), str(HUB_NEIGHBOURS))


# Neighbours averaged for an example's hubness (the usual CSLS choice).
HUB_NEIGHBOURS = 10


def hubness(vectors: np.ndarray, neighbours: int = HUB_NEIGHBOURS, block: int = 512) -> np.ndarray:
    """Each row's mean similarity to its ``neighbours`` nearest other rows, minus the median of that.

    Some sentences (long ones in languages the model knows less well, generic phrasings) sit near
    the centre of the embedding space and resemble nearly everything: measured on reports the bank
    was never built from, most false alarms rested on a handful of such *hubs*. Cross-domain
    similarity local scaling (CSLS, Conneau et al. 2018) discounts each example by how close it is
    to everything else; the reference is the bank itself, so nothing outside it is consulted.
    """
    count = len(vectors)
    if count <= neighbours:
        return np.zeros(count, np.float32)
    found = np.zeros(count, np.float32)
    rows = vectors.astype(np.float32)
    for start in range(0, count, block):
        sims = rows[start:start + block] @ rows.T
        within = np.arange(len(sims))
        sims[within, start + within] = -1.0  # a row is not its own neighbour
        found[start:start + block] = np.sort(np.partition(sims, count - neighbours, axis=1)[:, -neighbours:],
                                             axis=1).mean(axis=1)
    return (found - np.float32(np.median(found))).astype(np.float32)


_INDEXES: dict[tuple[str, str], BankIndex] = {}


def user_cache_dir() -> Path:
    """The per-user cache shared by every installation on the machine (tests, several instances)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stopit-mail"


def index_bank(bank: Bank, embedder: Embedder, cache_dir: Path | None = None,
               on_embedding: Callable[[int], None] | None = None) -> BankIndex:
    """Embed ``bank`` once per process, and each sentence once per machine.

    Rows come from the precomputed file shipped with the bank (``bank_vectors``), else from the
    per-sentence caches in ``cache_dir`` and the per-user cache: after an edit of the bank only the
    new sentences are embedded (the whole bank takes minutes on one busy core).
    """
    key = (bank.digest, embedder.name)
    if key in _INDEXES:
        return _INDEXES[key]
    folders = [f for f in (cache_dir, user_cache_dir()) if f is not None]
    vectors = embedded_rows([e.sentence for e in bank.examples], embedder, folders, "triage bank", on_embedding)
    index = fitted_index(bank, vectors, folders)
    if len(_INDEXES) > 8:
        _INDEXES.clear()
    _INDEXES[key] = index
    return index


def embedded_rows(sentences: Sequence[str], embedder: Embedder, folders: Sequence[Path], what: str,
                  on_embedding: Callable[[int], None] | None = None) -> np.ndarray:
    """One row per sentence: from the shipped precomputed file, else from the sentence caches in
    ``folders``, else embedded now (and then stored in every folder): after an edit only the new
    sentences are embedded (a whole bank takes minutes on one busy core)."""
    known: dict[str, np.ndarray] = dict(shipped_rows(embedder.name))
    cached = [_load_cached(embedder, folder) for folder in folders]
    for rows in cached:
        for cached_key, row in rows.items():
            known.setdefault(cached_key, row)
    keys = [sentence_key(s) for s in sentences]
    missing = list(dict.fromkeys(k for k in keys if k not in known))
    if missing:
        if on_embedding is not None:
            on_embedding(len(missing))
        log.warning("embedding %d %s sentences not seen before; on a first start this takes a while",
                    len(missing), what)
        texts = dict(zip(keys, sentences, strict=True))
        fresh = as_cached(embed_in_batches(embedder, [texts[k] for k in missing]))
        known.update(zip(missing, fresh, strict=True))
    vectors = np.vstack([known[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, 384), np.float32)
    for folder, rows in zip(folders, cached, strict=True) if missing else ():
        # The folder's other sentences are kept: an organisation's few examples (or a test's small
        # bank) indexed with the same model must not leave only their own rows in the cache, or
        # the next start re-embeds the whole bank (minutes on one core).
        asked = set(keys)
        kept = {k: v for k, v in rows.items() if k not in asked}
        room = CACHE_ROWS - len(keys)
        older = list(kept)[-room:] if room > 0 else []
        _store_cached(embedder, folder, older + keys,
                      np.vstack([np.array([kept[k] for k in older]), vectors]) if older else vectors)
    return vectors


# The most rows one sentence cache keeps (about 7 MB as float16): the sentences asked for last
# are kept first, so a bank edited many times does not grow its cache without end.
CACHE_ROWS = 50_000


def as_cached(rows: np.ndarray) -> np.ndarray:
    """``rows`` rounded as the sentence cache stores them (float16), back in float32: a process that
    embeds a sentence and every later one reading it from the cache see the same row, so they score
    alike, share one stored fit (``fit_cache``) and build the same shipped file."""
    return rows.astype(np.float16).astype(np.float32)


def embed_in_batches(embedder: Embedder, sentences: Sequence[str], batch: int = 64) -> np.ndarray:
    """Embeddings of many sentences, a batch at a time (bounded memory per call)."""
    rows = [embedder.embed(list(sentences[i:i + batch])) for i in range(0, len(sentences), batch)]
    return np.vstack(rows) if rows else np.zeros((0, 384), dtype=np.float32)


def _cache_path(embedder: Embedder, cache_dir: Path) -> Path:
    model = hashlib.sha256(embedder.name.encode()).hexdigest()[:16]
    return cache_dir / f"triage-bank-{model}.npz"


def _load_cached(embedder: Embedder, cache_dir: Path) -> dict[str, np.ndarray]:
    """Sentence key -> row from one cache folder ({} when absent or unreadable)."""
    path = _cache_path(embedder, cache_dir)
    try:
        with np.load(path, allow_pickle=False) as data:
            keys, vectors = data["keys"], data["vectors"]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError) as exc:
        log.warning("triage bank cache %s unreadable (%s); recomputing", path, exc)
        return {}
    if vectors.ndim != 2 or len(keys) != len(vectors) or not np.isfinite(vectors).all():
        log.warning("triage bank cache %s is inconsistent; recomputing", path)
        return {}
    return {str(k): v.astype(np.float32) for k, v in zip(keys, vectors, strict=True)}


def _store_cached(embedder: Embedder, cache_dir: Path, keys: list[str], vectors: np.ndarray) -> None:
    path = _cache_path(embedder, cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
        np.savez(partial, keys=np.array(keys), vectors=vectors.astype(np.float16))
        partial.replace(path)
    except OSError as exc:
        log.warning("cannot write triage bank cache %s: %s", path, exc)
