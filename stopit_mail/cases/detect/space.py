"""A second view of sentence similarity: e5's vectors whitened by the bank's within-label spread.

multilingual-e5-small is strongly anisotropic: nearly every pair of sentences sits at cosine
0.85-0.93, and the directions that carry most of that spread (topic, length, script, romanised Hindi
and Urdu versus the rest) are the ones that say least about *emergency or not*. Whitening by the
bank's within-label covariance (the spread of sentences around their own label's mean, as in LDA)
shrinks the directions along which reviewed examples of one label differ among themselves and
stretches the rest, so that neighbours in this space tend to share a label. It is a linear metric
fitted on the shipped bank's labelled vectors alone (never the dev set), with numpy, when the bank
is indexed (a 384x384 covariance and its eigendecomposition: well under a second); shrinkage towards
the identity keeps rare directions from being blown up.

Scoring (``scoring``) uses it *beside* e5's raw cosines, not instead of them: the vote of the k
nearest examples here is averaged with the raw vote, and the similarities that thresholds, margins
and explanations use stay e5's. A bank example, an organisation's own example (projected at run
time: effective at once, nothing refitted) and a report sentence all go through ``Space.project``.
Measured on the bank held out (``bench/triage_calibrate.py --compare --folds 5``) and on the dev set
(``bench/triage_metric.py``); see ``scoring.METRIC_WEIGHT``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Shrinkage of the within-label covariance's eigenvalues towards their mean (as a share of it).
# Held out on the bank, 0.3, 1 and 3 do about equally well; 1 is the middle.
SHRINKAGE = 1.0
# Below this many examples the covariance is not estimated reliably (a test's bank of a few
# sentences): no space is fitted and scoring uses the raw cosines alone.
MIN_FIT = 200


@dataclass(frozen=True)
class Space:
    """A fitted linear metric: ``normalise((x - mean) @ matrix)``."""

    mean: np.ndarray  # (dim,)
    matrix: np.ndarray  # (dim, dim)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """Rows in this space, L2-normalised (float32)."""
        rows = (np.asarray(vectors, dtype=np.float32) - self.mean) @ self.matrix
        return (rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def fit_space(vectors: np.ndarray, labels: np.ndarray, shrinkage: float = SHRINKAGE) -> Space | None:
    """The within-label whitening of ``vectors`` (None for a bank too small to estimate it).

    Deterministic: float64 sums, a symmetric eigendecomposition, and the matrix built back from it
    (``V diag(1/sqrt(w)) V^T`` does not depend on the eigenvectors' signs).
    """
    rows = np.asarray(vectors, dtype=np.float64)
    if rows.ndim != 2 or len(rows) < MIN_FIT:
        return None
    mean = rows.mean(axis=0)
    within = np.zeros((rows.shape[1], rows.shape[1]))
    for label in np.unique(labels):
        members = rows[labels == label]
        spread = members - members.mean(axis=0)
        within += spread.T @ spread
    within /= len(rows)
    eigenvalues, eigenvectors = np.linalg.eigh(within)
    eigenvalues = np.maximum(eigenvalues, 0.0) + shrinkage * float(eigenvalues.mean())
    matrix = (eigenvectors * eigenvalues ** -0.5) @ eigenvectors.T
    return Space(mean.astype(np.float32), matrix.astype(np.float32))
