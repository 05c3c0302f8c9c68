"""The bank of reviewed example sentences, and its embeddings computed once.

The bank ships as data (``stopit_mail/cases/triage_bank/<lang>.tsv``, ``label<TAB>category<TAB>
sentence``); an organisation adds its own reviewed examples in the database (`stopit triage
examples`). Embedding thousands of sentences takes minutes on one core, so the matrix is kept per
process and, when a cache folder is given, on disk as ``triage-bank-<bank hash>-<model hash>.npy``:
a changed bank or a different model simply misses the cache, a corrupt file is recomputed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from stopit_mail.cases.detect.model import Embedder
from stopit_mail.cases.triage import CATEGORIES

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

    @property
    def languages(self) -> frozenset[str]:
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
    folder = resources.files(BANK_PACKAGE).joinpath(BANK_FOLDER)
    examples = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".tsv"):
            continue
        language = entry.name.removesuffix(".tsv")
        for number, line in enumerate(entry.read_text(encoding="utf-8").splitlines(), 1):
            example = parse_line(line, f"{BANK_FOLDER}/{entry.name}:{number}", language, CATEGORIES)
            if example is not None:
                examples.append(example)
    return make_bank(examples)


@dataclass(frozen=True)
class BankIndex:
    """A bank with one embedding row per example (same order)."""

    bank: Bank
    vectors: np.ndarray
    labels: np.ndarray  # index into LABELS, one per example


_INDEXES: dict[tuple[str, str], BankIndex] = {}


def user_cache_dir() -> Path:
    """The per-user cache shared by every installation on the machine (tests, several instances)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stopit-mail"


def index_bank(bank: Bank, embedder: Embedder, cache_dir: Path | None = None) -> BankIndex:
    """Embed ``bank`` once per process, and once per machine: the matrix is read from (and written
    to) ``cache_dir`` and the per-user cache, so a new installation or a test does not pay again."""
    key = (bank.digest, embedder.name)
    if key in _INDEXES:
        return _INDEXES[key]
    folders = [f for f in (cache_dir, user_cache_dir()) if f is not None]
    vectors = next((v for f in folders if (v := _load_cached(bank, embedder, f)) is not None), None)
    if vectors is None:
        log.warning("embedding the triage bank (%d sentences) once; this takes a while on first start",
                    len(bank.examples))
        vectors = embed_in_batches(embedder, [e.sentence for e in bank.examples])
    for folder in folders:
        if not _cache_path(bank, embedder, folder).exists():
            _store_cached(bank, embedder, folder, vectors)
    labels = np.array([LABELS.index(e.label) for e in bank.examples], dtype=np.int8)
    index = BankIndex(bank, vectors, labels)
    if len(_INDEXES) > 8:
        _INDEXES.clear()
    _INDEXES[key] = index
    return index


def embed_in_batches(embedder: Embedder, sentences: Sequence[str], batch: int = 64) -> np.ndarray:
    """Embeddings of many sentences, a batch at a time (bounded memory per call)."""
    rows = [embedder.embed(list(sentences[i:i + batch])) for i in range(0, len(sentences), batch)]
    return np.vstack(rows) if rows else np.zeros((0, 384), dtype=np.float32)


def _cache_path(bank: Bank, embedder: Embedder, cache_dir: Path) -> Path:
    model = hashlib.sha256(embedder.name.encode()).hexdigest()[:16]
    return cache_dir / f"triage-bank-{bank.digest[:16]}-{model}.npy"


def _load_cached(bank: Bank, embedder: Embedder, cache_dir: Path) -> np.ndarray | None:
    path = _cache_path(bank, embedder, cache_dir)
    try:
        vectors = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("triage bank cache %s unreadable (%s); recomputing", path, exc)
        return None
    if vectors.ndim != 2 or vectors.shape[0] != len(bank.examples) or not np.isfinite(vectors).all():
        log.warning("triage bank cache %s does not fit the bank; recomputing", path)
        return None
    return vectors.astype(np.float32)


def _store_cached(bank: Bank, embedder: Embedder, cache_dir: Path, vectors: np.ndarray) -> None:
    path = _cache_path(bank, embedder, cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
        np.save(partial, vectors.astype(np.float16))
        partial.replace(path)
    except OSError as exc:
        log.warning("cannot write triage bank cache %s: %s", path, exc)
