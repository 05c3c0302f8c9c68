"""Score each sentence against the reviewed examples: a similarity-weighted vote of its neighbours.

Nearest neighbours rather than a fitted classifier, because every verdict must be explainable as
"this sentence resembles that reviewed example", and because an organisation's own examples (a
dismissed false alarm added as a *negative*) must take effect at once, without refitting anything.
A linear layer fitted on the bank was tried *instead of* this vote and measured worse on unseen
reports; it is now used beside it (``head``): its score rides along in ``Neighbourhood.head``
and ``tiers`` uses it only to hold the model's confident verdict for the reviewer.
Similarities are first discounted by each example's hubness (``bank.hubness``), then the ``k`` most
similar examples vote, each weighted by ``exp((similarity - best) / temperature)``, so a
near-duplicate of a reviewed sentence decides almost alone while a vague resemblance to many
examples stays a mixed vote.

The vote is taken twice and averaged: over e5's raw cosines, and over the bank's fitted linear metric
(``space``: within-label whitening), where neighbours share a label more often than e5's crowded
cosines (0.85-0.93 for nearly every pair) let them. Both are votes of reviewed examples; the
similarities the thresholds, the margin and the explanations use stay e5's raw cosines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from stopit_mail.cases.detect.bank import LABELS, BankIndex, Example

K = 20
TEMPERATURE = 0.02
# The fitted space's cosines spread several times wider than e5's, and so does its vote's
# temperature. Held out on the bank with the averaged vote (reviewer tier: emergencies caught,
# negatives let through): 0.05 94.1% / 3.4%, 0.1 94.5% / 2.5%, 0.2 94.2% / 2.4%.
METRIC_TEMPERATURE = 0.1
# Share of the fitted space's vote in the probabilities. Held out on the bank, at the shipped
# thresholds, 0.5 catches more emergencies at every tier and lets half as many negatives through
# as the raw vote alone (0.75 a little more so); on the dev set 0.75 lost two emergencies that 0.5
# and the raw vote catch, so 0.5 (an even average) it is. ``bench/triage_metric.py`` measures both.
METRIC_WEIGHT = 0.5
# An example this close to a sentence is the same wording a person reviewed (for an organisation's
# own, typically a dismissed false alarm): its label decides alone.
SAME_WORDING = 0.97
# How many of a sentence's nearest examples (of any label) ride along for its category (``categories``):
# twice the five that vote, so that a report below the reviewer tier, whose vote skips the danger
# categories it cannot be given, still has five voters.
NEAREST_KEPT = 10


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
    # The shipped bank's linear head (``head``): log-odds that the sentence is an emergency (None:
    # no head, for a bank too small to fit one).
    head: float | None = None
    # The few most similar examples of any label, most similar first (hubness discounted), for the
    # category vote (``categories``); only the reviewed example itself for the same wording.
    nearest_few: tuple[tuple[Example, float], ...] = ()

    def probability(self, label: str) -> float:
        return self.probabilities.get(label, 0.0)


def _similarities(vectors: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """``vectors @ bank.T``, computed as ``bank @ vectors.T``: with the bank's rows in C order that
    is about three times faster for a report's few sentences (measured on one core)."""
    found = bank.astype(np.float32, copy=False) @ vectors.astype(np.float32).T
    return np.ascontiguousarray(found.T)


def label_votes(sims: np.ndarray, labels: np.ndarray, k: int, temperature: float) -> np.ndarray:
    """Per row of ``sims``, each label's share of the weighted vote of the ``k`` most similar examples."""
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    scores = np.take_along_axis(sims, top, axis=1)
    weights = np.exp((scores - scores.max(axis=1, keepdims=True)) / temperature)
    weights /= weights.sum(axis=1, keepdims=True)
    chosen = labels[top]
    return np.stack([(weights * (chosen == i)).sum(axis=1) for i in range(len(LABELS))], axis=1)


def score_vectors(vectors: np.ndarray, indexes: list[BankIndex]) -> list[Neighbourhood]:
    """One Neighbourhood per row of ``vectors`` (L2-normalised), over all ``indexes`` together."""
    examples = indexes[0].bank.examples if len(indexes) == 1 else [e for index in indexes for e in index.bank.examples]
    if not examples or len(vectors) == 0:
        return []
    # The shipped bank alone (the usual case) is used as it is: stacking copies megabytes per report.
    bank = indexes[0].vectors if len(indexes) == 1 else np.vstack([index.vectors for index in indexes])
    labels = indexes[0].labels if len(indexes) == 1 else np.concatenate([index.labels for index in indexes])
    raw = _similarities(vectors, bank)
    # Hubs (examples resembling everything) are discounted; word for word stays word for word.
    sims = raw - np.concatenate([index.hub_penalty() for index in indexes])[None, :]
    k = min(K, len(examples))
    votes = label_votes(sims, labels, k, TEMPERATURE)
    space = indexes[0].space
    if space is not None:
        # The organisation's examples and the sentences go through the shipped bank's space.
        projected = np.vstack([index.in_space(space) for index in indexes]) if len(indexes) > 1 \
            else indexes[0].in_space(space)
        metric = _similarities(space.project(vectors), projected) \
            - np.concatenate([index.hub_penalty(projected=True) for index in indexes])[None, :]
        votes = (1 - METRIC_WEIGHT) * votes + METRIC_WEIGHT * label_votes(metric, labels, k, METRIC_TEMPERATURE)
    # Each label's best example per sentence, found once for all sentences (not per sentence).
    slots_of = [np.flatnonzero(labels == i) for i in range(len(LABELS))]
    best_of = [sims[:, slots].argmax(axis=1) if len(slots) else None for slots in slots_of]
    nearest = sims.argmax(axis=1)
    fitted = indexes[0].head
    heads = fitted.score(vectors) if fitted is not None else [None] * len(vectors)
    found = []
    for row in range(len(vectors)):
        probabilities = {label: float(votes[row, i]) for i, label in enumerate(LABELS)}
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
            found.append(Neighbourhood(probabilities, own, float(raw[row, same[0]]), by_label, True,
                                       _logit(heads[row])))
            continue
        top = int(nearest[row])
        found.append(Neighbourhood(probabilities, examples[top], float(sims[row, top]), by_label, False,
                                   _logit(heads[row])))
    found = _with_nearest_few(found, sims, examples)
    categories = indexes[0].categories
    if categories is not None and len(categories.examples):
        # The category examples join the nearest few only (never the label vote above).
        category_sims = _similarities(vectors, categories.vectors) - categories.hubs[None, :] * np.float32(0.5)
        found = _with_nearest_few(found, category_sims, categories.examples)
    return found


def _with_nearest_few(hoods: list[Neighbourhood], sims: np.ndarray, examples: Sequence[Example]) -> list[Neighbourhood]:
    """``hoods`` with each sentence's ``NEAREST_KEPT`` most similar of ``examples`` (any label) merged
    into the nearest few it already has, most similar first."""
    kept = min(NEAREST_KEPT, sims.shape[1])
    tops = np.argpartition(-sims, kept - 1, axis=1)[:, :kept]
    found = []
    for row, hood in enumerate(hoods):
        if hood.same_wording:
            found.append(replace(hood, nearest_few=((hood.nearest, hood.similarity),)))
            continue
        merged = list(hood.nearest_few) + [(examples[int(s)], float(sims[row, s])) for s in tops[row]]
        merged.sort(key=lambda pair: -pair[1])
        found.append(replace(hood, nearest_few=tuple(merged[:NEAREST_KEPT])))
    return found


def _logit(value: float | None) -> float | None:
    return None if value is None else float(value)
