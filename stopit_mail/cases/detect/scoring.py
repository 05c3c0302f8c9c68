"""Score each sentence against the reviewed examples: a similarity-weighted vote of its neighbours.

Nearest neighbours rather than a fitted classifier, because every verdict must be explainable as
"this sentence resembles that reviewed example", and because an organisation's own examples (a
dismissed false alarm added as a *negative*) must take effect at once, without refitting anything.
The ``k`` most similar examples vote, each weighted by ``exp((similarity - best) / temperature)``,
so a near-duplicate of a reviewed sentence decides almost alone while a vague resemblance to many
examples stays a mixed vote.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stopit_mail.cases.detect.bank import LABELS, BankIndex, Example

K = 20
TEMPERATURE = 0.02
# An organisation's own example this close to a sentence is the same wording a person reviewed
# there (typically a dismissed false alarm): its label decides alone.
SAME_WORDING = 0.97


@dataclass(frozen=True)
class Neighbourhood:
    """What a sentence resembles: label probabilities and the examples that explain them."""

    probabilities: dict[str, float]
    nearest: Example
    similarity: float
    # The most similar example of each label among the neighbours (for explanations), with its score.
    by_label: dict[str, tuple[Example, float]]

    def probability(self, label: str) -> float:
        return self.probabilities.get(label, 0.0)


def score_vectors(vectors: np.ndarray, indexes: list[BankIndex]) -> list[Neighbourhood]:
    """One Neighbourhood per row of ``vectors`` (L2-normalised), over all ``indexes`` together."""
    examples = [e for index in indexes for e in index.bank.examples]
    if not examples or len(vectors) == 0:
        return []
    bank = np.vstack([index.vectors for index in indexes]).astype(np.float32)
    labels = np.concatenate([index.labels for index in indexes])
    sims = vectors.astype(np.float32) @ bank.T
    k = min(K, len(examples))
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    found = []
    for row, candidates in enumerate(top):
        order = candidates[np.argsort(-sims[row, candidates])]
        scores = sims[row, order]
        weights = np.exp((scores - scores[0]) / TEMPERATURE)
        total = float(weights.sum())
        probabilities = {label: float(weights[labels[order] == i].sum() / total) for i, label in enumerate(LABELS)}
        by_label: dict[str, tuple[Example, float]] = {}
        for slot, score in zip(order, scores, strict=True):
            by_label.setdefault(LABELS[labels[slot]], (examples[slot], float(score)))
        reviewed_here = [slot for slot, score in zip(order, scores, strict=True)
                         if score >= SAME_WORDING and examples[slot].source != "shipped"]
        if reviewed_here:
            own = examples[reviewed_here[0]]
            probabilities = {label: float(label == own.label) for label in LABELS}
            by_label[own.label] = (own, float(sims[row, reviewed_here[0]]))
            found.append(Neighbourhood(probabilities, own, float(sims[row, reviewed_here[0]]), by_label))
            continue
        found.append(Neighbourhood(probabilities, examples[order[0]], float(scores[0]), by_label))
    return found
