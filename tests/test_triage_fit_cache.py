"""The bank's fit (hubness, space, head) is kept per machine, so a process starting to triage does
not refit a bank it has fitted before (10-20 s of CPU with ~9,000 examples, paid by every worker
start before); another bank, other rows, a corrupt file never reuse a wrong fit.

Vectors are made directly (seeded numpy), as in test_triage_bank_space.py; ``index_bank`` runs
with the deterministic stand-in embedder.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from stopit_mail.cases.detect import bank as bank_module
from stopit_mail.cases.detect.bank import LABELS, BankIndex, Example, fitted_index, index_bank, make_bank
from stopit_mail.cases.detect.model import StandInEmbedder
from stopit_mail.cases.detect.space import MIN_FIT

DIM = 384


def _clustered(count: int, seed: int = 11) -> tuple[list[Example], np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(LABELS), DIM))
    labels = [LABELS[i % len(LABELS)] for i in range(count)]
    rows = np.stack([centres[LABELS.index(label)] * 0.6 + rng.normal(size=DIM) for label in labels])
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return [Example(label, "other", f"example {i}", "en") for i, label in enumerate(labels)], rows


def _same(a: BankIndex, b: BankIndex) -> bool:
    assert a.space is not None and b.space is not None and a.head is not None and b.head is not None
    assert a.hubs is not None and b.hubs is not None and a.projected_hubs is not None and b.projected_hubs is not None
    return (np.array_equal(a.hubs, b.hubs) and np.array_equal(a.projected_hubs, b.projected_hubs)
            and np.array_equal(a.space.matrix, b.space.matrix) and np.array_equal(a.space.mean, b.space.mean)
            and np.array_equal(a.head.weights, b.head.weights) and np.array_equal(a.head.mean, b.head.mean)
            and a.head.bias == b.head.bias and np.array_equal(a.projected, b.projected))


def test_a_stored_fit_is_reused_and_equals_a_fresh_one(tmp_path: Path) -> None:
    examples, vectors = _clustered(3 * MIN_FIT + 60)
    bank = make_bank(examples)
    fresh = fitted_index(bank, vectors)
    stored = fitted_index(bank, vectors, [tmp_path])
    assert len(list(tmp_path.glob("triage-fit-*.npz"))) == 1
    reused = fitted_index(bank, vectors, [tmp_path])
    assert _same(fresh, stored) and _same(fresh, reused)


def test_other_rows_or_labels_do_not_reuse_a_fit(tmp_path: Path) -> None:
    examples, vectors = _clustered(3 * MIN_FIT + 60)
    fitted_index(make_bank(examples), vectors, [tmp_path])
    moved = vectors.copy()
    moved[0] = moved[1]
    other_rows = fitted_index(make_bank(examples), moved, [tmp_path])
    assert _same(other_rows, fitted_index(make_bank(examples), moved))
    relabelled = [Example("emergency" if i == 2 else e.label, e.category, e.sentence, e.language)
                  for i, e in enumerate(examples)]
    other_labels = fitted_index(make_bank(relabelled), vectors, [tmp_path])
    assert _same(other_labels, fitted_index(make_bank(relabelled), vectors))
    assert len(list(tmp_path.glob("triage-fit-*.npz"))) == 3


def test_a_corrupt_or_foreign_fit_file_is_refitted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    examples, vectors = _clustered(3 * MIN_FIT + 60)
    bank = make_bank(examples)
    fitted_index(bank, vectors, [tmp_path])
    (stored,) = tmp_path.glob("triage-fit-*.npz")
    stored.write_bytes(b"PK\x03\x04 not a zip")
    with caplog.at_level(logging.WARNING):
        again = fitted_index(bank, vectors, [tmp_path])
    assert "unreadable" in caplog.text and _same(again, fitted_index(bank, vectors))
    # A file holding well-formed arrays of the wrong shape (another bank's fit under this name).
    other_examples, other_vectors = _clustered(3 * MIN_FIT + 90, seed=3)
    fitted_index(make_bank(other_examples), other_vectors, [tmp_path / "other"])
    (foreign,) = (tmp_path / "other").glob("triage-fit-*.npz")
    foreign.replace(stored)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        third = fitted_index(bank, vectors, [tmp_path])
    assert "does not match" in caplog.text and _same(third, fitted_index(bank, vectors))


def test_a_bank_too_small_to_fit_a_space_is_stored_without_one(tmp_path: Path) -> None:
    examples, vectors = _clustered(12)
    first = fitted_index(make_bank(examples), vectors, [tmp_path])
    second = fitted_index(make_bank(examples), vectors, [tmp_path])
    assert first.space is None and second.space is None and second.projected is None
    assert first.hubs is not None and second.hubs is not None and np.array_equal(first.hubs, second.hubs)


def test_first_and_later_starts_index_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first start embeds and stores rows as float16; it uses them rounded the same way, so a
    later start (reading the cache) scores alike and finds the first start's fit."""
    sentences = [f"sentence number {i} about {word}" for i, word in enumerate(("pills", "bus", "game") * 220)]
    bank = make_bank([Example(LABELS[i % 3], "other", s, "en") for i, s in enumerate(sentences)])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    first = index_bank(bank, StandInEmbedder(), tmp_path / "data")
    bank_module._INDEXES.clear()  # the per-process index must not answer the second start
    fits_before = set((tmp_path / "data").glob("triage-fit-*.npz"))
    second = index_bank(bank, StandInEmbedder(), tmp_path / "data")
    assert np.array_equal(first.vectors, second.vectors) and _same(first, second)
    assert set((tmp_path / "data").glob("triage-fit-*.npz")) == fits_before
