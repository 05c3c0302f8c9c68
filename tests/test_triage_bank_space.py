"""The bank's fitted metric (``detect.space``): fitted once, applied alike to the bank, an organisation's
examples and report sentences, and never overriding a word-for-word review.

Vectors are made directly (seeded numpy), so these tests need neither the model nor the stand-in.
"""

from __future__ import annotations

import numpy as np
import pytest

from stopit_mail.cases.detect.bank import LABELS, BankIndex, Example, fitted_index, hubness, make_bank
from stopit_mail.cases.detect.scoring import (
    METRIC_TEMPERATURE,
    METRIC_WEIGHT,
    SAME_WORDING,
    TEMPERATURE,
    K,
    label_votes,
    score_vectors,
)
from stopit_mail.cases.detect.space import MIN_FIT, fit_space

DIM = 384


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _clustered(count: int, seed: int = 7) -> tuple[list[Example], np.ndarray]:
    """Examples of the three labels around three centres, sharing a strong common direction (as
    e5's vectors do), so raw cosines crowd together while the labels still differ."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=DIM) * 3.0
    centres = rng.normal(size=(len(LABELS), DIM))
    labels = [LABELS[i % len(LABELS)] for i in range(count)]
    rows = np.stack([common + centres[LABELS.index(label)] * 0.6 + rng.normal(size=DIM) for label in labels])
    examples = [Example(label, "other", f"example {i}", "en") for i, label in enumerate(labels)]
    return examples, _unit(rows)


@pytest.fixture(scope="module")
def shipped() -> BankIndex:
    examples, vectors = _clustered(MIN_FIT + 100)
    return fitted_index(make_bank(examples), vectors)


def _organisation(vectors: np.ndarray, label: str = "negative") -> BankIndex:
    examples = [Example(label, "other", f"own {i}", "en", source="organisation") for i in range(len(vectors))]
    return BankIndex(make_bank(examples), vectors, np.array([LABELS.index(label)] * len(vectors), dtype=np.int8))


def test_the_space_is_fitted_deterministically_and_only_on_a_bank_large_enough(shipped: BankIndex) -> None:
    examples, vectors = _clustered(MIN_FIT + 100)
    labels = np.array([LABELS.index(e.label) for e in examples])
    again = fit_space(vectors, labels)
    assert shipped.space is not None and again is not None
    assert np.array_equal(shipped.space.matrix, again.matrix) and np.array_equal(shipped.space.mean, again.mean)
    assert fit_space(vectors[:MIN_FIT - 1], labels[:MIN_FIT - 1]) is None
    small = fitted_index(make_bank(examples[:10]), vectors[:10])
    assert small.space is None and small.projected is None


def test_same_label_neighbours_are_closer_in_the_fitted_space(shipped: BankIndex) -> None:
    """What the metric is for: raw cosines crowd together, the fitted ones separate the labels."""
    assert shipped.space is not None and shipped.projected is not None
    same = shipped.labels[:, None] == shipped.labels[None, :]
    np.fill_diagonal(same, False)
    other = shipped.labels[:, None] != shipped.labels[None, :]

    def gap(rows: np.ndarray) -> float:
        sims = rows @ rows.T
        return float((sims[same].mean() - sims[other].mean()) / sims[other].std())

    assert gap(shipped.projected) > 2 * gap(shipped.vectors)


def test_bank_organisation_examples_and_sentences_all_go_through_the_same_space(shipped: BankIndex) -> None:
    space = shipped.space
    assert space is not None
    rng = np.random.default_rng(3)
    own = _organisation(_unit(shipped.vectors[:4] + rng.normal(size=(4, DIM)) * 0.05))
    queries = _unit(shipped.vectors[10:16] + rng.normal(size=(6, DIM)) * 0.1)
    hoods = score_vectors(queries, [shipped, own])
    # The vote recomputed by hand: raw cosines, then every row (bank, organisation, sentence) projected.
    raw_bank = np.vstack([shipped.vectors, own.vectors])
    labels = np.concatenate([shipped.labels, own.labels])
    raw_penalty = np.concatenate([shipped.hub_penalty(), np.zeros(4, np.float32)])
    fitted_penalty = np.concatenate([hubness(space.project(shipped.vectors)) * 0.5, np.zeros(4, np.float32)])
    raw_votes = label_votes(queries @ raw_bank.T - raw_penalty, labels, K, TEMPERATURE)
    fitted = space.project(queries) @ space.project(raw_bank).T - fitted_penalty
    expected = (1 - METRIC_WEIGHT) * raw_votes + METRIC_WEIGHT * label_votes(fitted, labels, K, METRIC_TEMPERATURE)
    for hood, row in zip(hoods, expected, strict=True):
        assert [hood.probability(label) for label in LABELS] == pytest.approx(list(row), abs=1e-4)
    # The shipped bank's rows are projected once, an organisation's at scoring time.
    assert shipped.in_space(space) is shipped.projected
    assert np.allclose(own.in_space(space), space.project(own.vectors))


def test_an_organisations_example_counts_at_once_without_refitting(shipped: BankIndex) -> None:
    assert shipped.space is not None
    matrix_before = shipped.space.matrix.copy()
    emergency = shipped.vectors[shipped.labels == LABELS.index("emergency")][:1]
    rng = np.random.default_rng(5)
    query = _unit(emergency + rng.normal(size=(1, DIM)) * 0.12)
    alone = score_vectors(query, [shipped])[0]
    # A dismissed false alarm worded close to this sentence, added as the organisation's negatives.
    own = _organisation(_unit(np.repeat(query, 3, axis=0) + rng.normal(size=(3, DIM)) * 0.03))
    with_own = score_vectors(query, [shipped, own])[0]
    assert with_own.probability("negative") > alone.probability("negative") + 0.3
    assert with_own.nearest.source == "organisation"
    assert np.array_equal(shipped.space.matrix, matrix_before)  # nothing refitted


def test_the_same_wording_still_decides_alone_on_the_raw_cosine(shipped: BankIndex) -> None:
    """A sentence at 0.97 raw cosine of a reviewed example is that review, whatever either vote says."""
    negative = shipped.vectors[shipped.labels == LABELS.index("negative")][:1]
    rng = np.random.default_rng(11)
    noise = rng.normal(size=(1, DIM))
    noise -= (noise @ negative.T) * negative
    noise /= np.linalg.norm(noise)
    # Cosine exactly a little above SAME_WORDING with the organisation's emergency example below.
    cosine = SAME_WORDING + 0.005
    query = _unit(cosine * negative + np.sqrt(1 - cosine ** 2) * noise)
    own = _organisation(negative, label="emergency")
    hood = score_vectors(query, [shipped, own])[0]
    assert hood.same_wording and hood.nearest.source == "organisation"
    assert hood.probability("emergency") == 1.0 and hood.similarity == pytest.approx(cosine, abs=1e-3)
    below = _unit((SAME_WORDING - 0.03) * negative + np.sqrt(1 - (SAME_WORDING - 0.03) ** 2) * noise)
    assert not score_vectors(below, [shipped, own])[0].same_wording


def test_a_bank_too_small_for_a_space_scores_on_raw_cosines_alone() -> None:
    examples, vectors = _clustered(30)
    index = fitted_index(make_bank(examples), vectors)
    queries = _unit(vectors[:5] + np.random.default_rng(1).normal(size=(5, DIM)) * 0.1)
    expected = label_votes(queries @ vectors.T - index.hub_penalty(), index.labels, K, TEMPERATURE)
    for hood, row in zip(score_vectors(queries, [index]), expected, strict=True):
        assert [hood.probability(label) for label in LABELS] == pytest.approx(list(row), abs=1e-5)
