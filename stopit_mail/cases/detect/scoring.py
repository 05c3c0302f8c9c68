"""Score each sentence against the reviewed examples: a similarity-weighted vote of its neighbours.

Nearest neighbours rather than a fitted classifier, because every verdict must be explainable as
"this sentence resembles that reviewed example", and because an organisation's own examples (a
dismissed false alarm added as a *negative*) must take effect at once, without refitting anything.
A linear layer fitted on the bank was tried and measured worse on unseen reports than this vote.
Similarities are first discounted by each example's hubness (``bank.hubness``), then the ``k`` most
similar examples vote, each weighted by ``exp((similarity - best) / temperature)``, so a
near-duplicate of a reviewed sentence decides almost alone while a vague resemblance to many
examples stays a mixed vote.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stopit_mail.cases.detect.bank import LABELS, BankIndex, Example

K = 20
TEMPERATURE = 0.02
# An example this close to a sentence is the same wording a person reviewed (for an organisation's
# own, typically a dismissed false alarm): its label decides alone.
SAME_WORDING = 0.97


@dataclass(frozen=True)
class Neighbourhood:
    """What a sentence resembles: label probabilities and the examples that explain them."""

    probabilities: dict[str, float]
    nearest: Example
    similarity: float
    # The most similar example of each label in the whole bank (for explanations), with its score.
    by_label: dict[str, tuple[Example, float]]
    # The sentence is (nearly) word for word a reviewed example, whose label then decides alone.
    same_wording: bool = False

    def probability(self, label: str) -> float:
        return self.probabilities.get(label, 0.0)


def score_vectors(vectors: np.ndarray, indexes: list[BankIndex]) -> list[Neighbourhood]:
    """One Neighbourhood per row of ``vectors`` (L2-normalised), over all ``indexes`` together."""
    examples = indexes[0].bank.examples if len(indexes) == 1 else [e for index in indexes for e in index.bank.examples]
    if not examples or len(vectors) == 0:
        return []
    # The shipped bank alone (the usual case) is used as it is: stacking copies megabytes per report.
    bank = indexes[0].vectors if len(indexes) == 1 else np.vstack([index.vectors for index in indexes])
    labels = indexes[0].labels if len(indexes) == 1 else np.concatenate([index.labels for index in indexes])
    raw = vectors.astype(np.float32) @ bank.astype(np.float32, copy=False).T
    # Hubs (examples resembling everything) are discounted; word for word stays word for word.
    sims = raw - np.concatenate([index.hub_penalty() for index in indexes])[None, :]
    # Each label's best example per sentence, found once for all sentences (not per sentence).
    slots_of = [np.flatnonzero(labels == i) for i in range(len(LABELS))]
    best_of = [sims[:, slots].argmax(axis=1) if len(slots) else None for slots in slots_of]
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
        for i, label in enumerate(LABELS):
            best = best_of[i]
            if best is not None:
                slot = int(slots_of[i][best[row]])
                by_label[label] = (examples[slot], float(sims[row, slot]))
        # An organisation's own example wins a tie with the shipped bank's: it is the local review.
        same = [int(slot) for slot in np.flatnonzero(raw[row] >= SAME_WORDING)]
        same.sort(key=lambda slot: (examples[slot].source == "shipped", -float(raw[row, slot])))
        if same:
            own = examples[same[0]]
            probabilities = {label: float(label == own.label) for label in LABELS}
            by_label[own.label] = (own, float(raw[row, same[0]]))
            found.append(Neighbourhood(probabilities, own, float(raw[row, same[0]]), by_label, True))
            continue
        found.append(Neighbourhood(probabilities, examples[order[0]], float(scores[0]), by_label))
    return found
