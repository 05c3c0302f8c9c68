"""A small linear head fitted on the bank: how much a sentence reads as an *emergency*, in one number.

The neighbours' vote (``scoring``) asks which reviewed examples a sentence is nearest; with e5 putting
nearly every pair at cosine 0.85-0.93, an unseen hard negative ("the permission slip is due friday",
a cooking class's knives) often has a handful of emergency examples as its nearest and is voted
*emergency*. The head asks a different question of the same vector: on which side of a hyperplane
fitted to separate all the bank's emergencies from all its negatives and concerns does it fall. It is
class-balanced L2-regularised logistic regression over e5's (centred) vectors, fitted with numpy by
Newton's method on the shipped bank's labels when the bank is indexed (a 385x385 solve per step,
about a second in all), deterministic, and never fitted on the dev set.

It only ever *holds* the model's own confident verdict for the reviewer (``tiers``): it never raises,
never lowers anything below the reviewer tier, never touches a rule's urgency, and never overrides an
organisation's own examples (which count at once, through the vote, without refitting the head) or a
word-for-word review.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# L2 penalty on the weights (not the bias), in the units of a class-balanced log-loss summed over
# the bank. Held out on the bank (5 folds of translation groups, ``bench/triage_calibrate.py
# --head``): see the calibration's output in ``Thresholds.confident_head``.
PENALTY = 0.1
# Below this many examples of either side the head is not fitted (a test's bank of a few sentences).
MIN_FIT = 200
NEWTON_STEPS = 30


@dataclass(frozen=True)
class Head:
    """``score(x) = (x - mean) @ weights + bias``: the log-odds that a sentence is an emergency."""

    mean: np.ndarray  # (dim,)
    weights: np.ndarray  # (dim,)
    bias: float

    def score(self, vectors: np.ndarray) -> np.ndarray:
        """One log-odds per row (float64): positive reads as an emergency, negative as not."""
        rows = np.asarray(vectors, dtype=np.float64) - self.mean
        return rows @ self.weights + self.bias


def fit_head(vectors: np.ndarray, labels: np.ndarray, emergency: int, negative: int,
             penalty: float = PENALTY) -> Head | None:
    """Emergencies (label ``emergency``) against negatives (label ``negative``), each side weighted
    to half the loss; rows of any other label (concerns) are left out. None when either side has
    fewer than ``MIN_FIT`` examples.

    Concerns are left out because the head's one use is to tell an emergency from a hard negative
    at the confident tier (a concern there goes to the reviewer anyway); held out on the bank, the
    head without them separates emergencies from negatives better (AUC 0.944 against 0.936).
    Deterministic: float64 throughout, Newton steps from zero with a fixed stopping rule.
    """
    labels = np.asarray(labels)
    kept = (labels == emergency) | (labels == negative)
    rows = np.asarray(vectors, dtype=np.float64)[kept]
    target = (labels[kept] == emergency).astype(np.float64)
    positives = int(target.sum())
    if rows.ndim != 2 or min(positives, len(target) - positives) < MIN_FIT:
        return None
    mean = rows.mean(axis=0)
    design = np.hstack([rows - mean, np.ones((len(rows), 1))])
    balance = np.where(target == 1.0, 0.5 / positives, 0.5 / (len(target) - positives)) * len(target)
    ridge = np.full(design.shape[1], penalty)
    ridge[-1] = 0.0
    coef = np.zeros(design.shape[1])
    for _ in range(NEWTON_STEPS):
        chance = 1.0 / (1.0 + np.exp(-(design @ coef)))
        gradient = design.T @ (balance * (chance - target)) + ridge * coef
        hessian = (design * (balance * chance * (1.0 - chance))[:, None]).T @ design + np.diag(ridge)
        step = np.linalg.solve(hessian, gradient)
        coef -= step
        if float(np.abs(step).max()) < 1e-7:
            break
    return Head(mean, coef[:-1], float(coef[-1]))
