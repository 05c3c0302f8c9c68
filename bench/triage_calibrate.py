"""Where the detector's vote thresholds come from: held-out scores of the shipped bank itself.

Every bank sentence is scored against the rest of the bank, as a report sentence would be (hubness
discount, the k nearest examples' weighted vote over e5's cosines averaged with the vote in the
bank's fitted metric, ``detect.space``), leaving out itself and every example at least ``--purge``
similar to it (near-duplicates and most translations, which would otherwise vote for their twin).
For each pair of thresholds it prints how many held-out emergencies reach the confident and the
reviewer tier and how many held-out negatives do, then the votes the shipped thresholds use: the
largest that catch held-out emergencies at least as well as the previous release did with its own
bank (``REFERENCE``). Growing the bank with ordinary reports and hard negatives pulls every vote
towards *negative*; this keeps that from being paid for with missed emergencies. The dev set is
never read here.

``--compare`` prints, at the shipped thresholds, the raw vote alone next to the vote with the fitted
metric, and with ``--folds N`` the metric is fitted on the other folds of the bank only (so a
held-out sentence's own label never shaped the space it is scored in).

    python bench/triage_calibrate.py              # the shipped bank, the pinned model
    python bench/triage_calibrate.py --purge 0.90
    python bench/triage_calibrate.py --compare --folds 5
    python bench/triage_calibrate.py --head --folds 5   # the linear head's confident gate
    python bench/triage_calibrate.py --review --folds 5 # its gate on concern-carried reviewer verdicts

``--head`` measures the bank's linear head (``detect.head``) as a gate on the confident tier: folds
are groups of near-duplicates and translations (``--purge``), the metric and the head are fitted on
the other folds only, and for each head penalty and gate it prints the held-out emergencies the
gate keeps at the confident tier and the negatives it holds for the reviewer, then the largest gate
(in steps of 0.5 log-odds) keeping held-out emergencies at the confident tier at ``REFERENCE``,
and, to compare, what tightening the confident vote instead would keep. Folds are always groups at
0.92; ``--purge 0.90`` or ``0.88`` leaves paraphrases out of the vote too (nearer unseen wording).

``--review`` measures the same head as a gate on the model's *reviewer* verdicts that the concern
vote carried (``Thresholds.review_head`` and ``review_emergency_vote``), on the same folds: for each
cap on the emergency vote and each gate, the held-out emergencies, concerns and negatives left at the
reviewer tier, then the pair taking the most held-out negatives off it while costing at most
``REVIEW_COST`` of the held-out emergencies there.
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np

from stopit_mail.cases.detect.bank import LABELS, hubness, index_bank, shipped_bank
from stopit_mail.cases.detect.head import PENALTY, fit_head
from stopit_mail.cases.detect.model import shared_embedder
from stopit_mail.cases.detect.scoring import METRIC_TEMPERATURE, METRIC_WEIGHT, TEMPERATURE, K, label_votes
from stopit_mail.cases.detect.space import fit_space
from stopit_mail.cases.detect.tiers import DEFAULT_THRESHOLDS

# Held-out emergencies caught by the release before stop 9 (bank of 5,021, votes 0.6 and 0.65):
# at the confident tier, at the reviewer tier.
REFERENCE = (0.717, 0.890)
VOTES = (0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75)
MARGINS = (-0.015, -0.01, -0.005, 0.0, 0.005, 0.01, 0.02)
HEAD_GATES = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0)
HEAD_PENALTIES = (0.01, 0.03, 0.1, 0.3, 1.0)
# The reviewer gate (``--review``): caps on the emergency vote, and the share of held-out emergencies
# at the reviewer tier it may cost: one in 400 (the goal leaves 1% of emergencies below the
# reviewer, and the vote's thresholds already spend most of it).
REVIEW_CAPS = (0.3, 0.45, 0.6)
REVIEW_COST = 0.0025
GROUP_PURGE = 0.92


def held_out_sims(vectors: np.ndarray, penalty: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    sims = vectors @ vectors.T - penalty[None, :]
    sims[excluded] = -9.0
    return sims


def held_out_votes(vectors: np.ndarray, labels: np.ndarray, purge: float,
                   metric: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(votes per label, nearest raw similarity per label) of each example, without its near twins;
    ``metric``: the rows in the fitted space, whose vote is averaged in as ``scoring`` does."""
    excluded = vectors @ vectors.T >= purge
    np.fill_diagonal(excluded, True)
    sims = held_out_sims(vectors, hubness(vectors) * np.float32(0.5), excluded)
    votes = label_votes(sims, labels, K, TEMPERATURE)
    if metric is not None:
        fitted = held_out_sims(metric, hubness(metric) * np.float32(0.5), excluded)
        votes = (1 - METRIC_WEIGHT) * votes + METRIC_WEIGHT * label_votes(fitted, labels, K, METRIC_TEMPERATURE)
    nearest = np.stack([np.where(labels[None, :] == label, sims, -9.0).max(axis=1)
                        for label in range(len(LABELS))], axis=1)
    return votes, nearest


def cross_fitted(vectors: np.ndarray, labels: np.ndarray, purge: float, folds: int) -> tuple[np.ndarray, np.ndarray]:
    """``held_out_votes`` with the metric fitted, for each fold, on the other folds only."""
    fold_of = np.arange(len(labels)) % folds
    votes, nearest = np.zeros((len(labels), len(LABELS))), np.zeros((len(labels), len(LABELS)))
    for fold in range(folds):
        space = fit_space(vectors[fold_of != fold], labels[fold_of != fold])
        assert space is not None
        fold_votes, fold_nearest = held_out_votes(vectors, labels, purge, space.project(vectors))
        votes[fold_of == fold], nearest[fold_of == fold] = fold_votes[fold_of == fold], fold_nearest[fold_of == fold]
    return votes, nearest


def shipped_tiers(votes: np.ndarray, nearest: np.ndarray) -> dict[str, np.ndarray]:
    """Which held-out examples the shipped thresholds put at each tier (and above)."""
    limits = DEFAULT_THRESHOLDS
    alarm, closest = votes[:, 0] + votes[:, 1], nearest[:, :2].max(axis=1)
    voted = (votes[:, 0] >= limits.confident_vote) & (nearest[:, 0] >= limits.confident_similarity)
    confident = voted & (nearest[:, 0] - nearest[:, 2] >= limits.confident_margin)
    review = voted | ((alarm >= limits.review_vote) & (closest >= limits.review_similarity))
    urgent = review | ((alarm >= limits.urgent_vote) & (closest >= limits.urgent_similarity))
    return {"confident": confident, "reviewer": review, "urgent": urgent}


def compare(vectors: np.ndarray, labels: np.ndarray, purge: float, folds: int) -> None:
    """The shipped thresholds on the raw vote alone and on the vote with the fitted metric."""
    emergency, concern, negative = (labels == LABELS.index(name) for name in LABELS)
    space = fit_space(vectors, labels)
    assert space is not None
    runs = {"raw vote alone": held_out_votes(vectors, labels, purge),
            f"with the metric (weight {METRIC_WEIGHT})": held_out_votes(vectors, labels, purge, space.project(vectors))}
    if folds > 1:
        runs[f"with the metric fitted on {folds - 1} of {folds} folds"] = cross_fitted(vectors, labels, purge, folds)
    for name, (votes, nearest) in runs.items():
        print(f"-- {name}")
        for tier, ok in shipped_tiers(votes, nearest).items():
            print(f"   >= {tier:<9} emergencies {ok[emergency].mean():.3f}  concerns {ok[concern].mean():.3f}  "
                  f"negatives {ok[negative].mean():.3f} ({ok[negative].sum()}/{negative.sum()})")


def group_folds(vectors: np.ndarray, purge: float, folds: int) -> np.ndarray:
    """A fold per example, keeping together every example linked by a chain of similarities of at
    least ``purge`` (near-duplicates, translations): a held-out sentence's twin never trains the
    head it is scored by. Groups are dealt to folds in a fixed shuffled order."""
    parent = np.arange(len(vectors))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = int(parent[node])
        return node

    for start in range(0, len(vectors), 1000):
        for row, col in zip(*np.nonzero(vectors[start:start + 1000] @ vectors.T >= purge), strict=True):
            first, second = root(int(row) + start), root(int(col))
            if first != second:
                parent[max(first, second)] = min(first, second)
    groups = np.array([root(i) for i in range(len(vectors))])
    order = np.random.default_rng(0).permutation(np.unique(groups))
    fold_of = {int(group): i % folds for i, group in enumerate(order)}
    return np.array([fold_of[int(group)] for group in groups])


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a positive outscores a negative (ties count half)."""
    others = np.sort(scores[~positive])
    below = np.searchsorted(others, scores[positive], side="left")
    tied = np.searchsorted(others, scores[positive], side="right") - below
    return float((below + tied / 2).sum() / (positive.sum() * len(others)))


def cross_fitted_heads(vectors: np.ndarray, labels: np.ndarray, purge: float, folds: int,
                       penalties: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, dict[float, np.ndarray]]:
    """Held-out votes, nearest similarities and head scores (one per penalty) of every example, the
    metric and the head fitted on the other folds of translation groups only."""
    emergency, negative = LABELS.index("emergency"), LABELS.index("negative")
    # Groups at 0.92 whatever --purge is: below that, chains of e5's crowded cosines join most of
    # the bank into one group. A lower --purge makes the vote's held-out neighbours less alike.
    fold_of = group_folds(vectors, GROUP_PURGE, folds)
    votes, nearest = np.zeros((len(labels), len(LABELS))), np.zeros((len(labels), len(LABELS)))
    scores = {penalty: np.zeros(len(labels)) for penalty in penalties}
    for fold in range(folds):
        train, held = fold_of != fold, fold_of == fold
        space = fit_space(vectors[train], labels[train])
        assert space is not None
        fold_votes, fold_nearest = held_out_votes(vectors, labels, purge, space.project(vectors))
        votes[held], nearest[held] = fold_votes[held], fold_nearest[held]
        for penalty, found in scores.items():
            head = fit_head(vectors[train], labels[train], emergency, negative, penalty)
            assert head is not None
            found[held] = head.score(vectors[held])
    return votes, nearest, scores


def head_gates(vectors: np.ndarray, labels: np.ndarray, purge: float, folds: int) -> None:
    """The linear head as a gate on the confident tier, cross-fitted on folds of translation groups."""
    emergency, negative = LABELS.index("emergency"), LABELS.index("negative")
    votes, nearest, scores = cross_fitted_heads(vectors, labels, purge, folds, HEAD_PENALTIES)
    confident = shipped_tiers(votes, nearest)["confident"]
    is_emergency, is_negative = labels == emergency, labels == negative
    print(f"{folds} folds of translation groups; held out at the confident tier without the head: emergencies "
          f"{confident[is_emergency].mean():.3f}, negatives {confident[is_negative].sum()}/{is_negative.sum()}")
    both, gated = is_emergency | is_negative, confident & (is_emergency | is_negative)
    for penalty, found in scores.items():
        print(f"penalty {penalty:<5} AUC emergencies/negatives {auc(found[both], is_emergency[both]):.4f}, among "
              f"those the vote makes confident {auc(found[gated], is_emergency[gated]):.4f}")
    chosen = None
    for gate in HEAD_GATES:
        kept = confident & (scores[PENALTY] >= gate)
        print(f"penalty {PENALTY} gate {gate:+.1f}: emergencies confident {kept[is_emergency].mean():.3f} "
              f"({(confident & ~kept)[is_emergency].sum()} held), negatives confident {kept[is_negative].sum()} "
              f"({(confident & ~kept)[is_negative].sum()} held)")
        if kept[is_emergency].mean() >= REFERENCE[0]:
            chosen = gate
    print(f"largest gate keeping held-out emergencies at >= {REFERENCE[0]} confident: {chosen}")
    for vote in VOTES[VOTES.index(DEFAULT_THRESHOLDS.confident_vote):][:4]:
        tighter = confident & (votes[:, 0] >= vote)
        print(f"instead, no head and a confident vote of {vote}: emergencies confident "
              f"{tighter[is_emergency].mean():.3f}, negatives confident {tighter[is_negative].sum()}")


def review_gates(vectors: np.ndarray, labels: np.ndarray, purge: float, folds: int) -> None:
    """The head as a gate on the model's own *reviewer* verdicts (``Thresholds.review_head`` with
    ``review_emergency_vote``), cross-fitted on folds of translation groups: a held-out example the
    vote puts at the reviewer tier (and not at the confident one) goes to *urgent* when its head
    score is under the gate and its emergency vote under the cap (its concern vote carried it)."""
    emergency, concern, negative = (LABELS.index(name) for name in LABELS)
    votes, nearest, scores = cross_fitted_heads(vectors, labels, purge, folds, (PENALTY,))
    limits = DEFAULT_THRESHOLDS
    tiers = shipped_tiers(votes, nearest)
    voted = (votes[:, 0] >= limits.confident_vote) & (nearest[:, 0] >= limits.confident_similarity)
    gateable = tiers["reviewer"] & ~voted
    is_ = {name: labels == LABELS.index(name) for name in LABELS}
    print(f"{folds} folds of translation groups; held out at the reviewer tier without the gate: emergencies "
          f"{tiers['reviewer'][is_['emergency']].mean():.4f}, concerns {tiers['reviewer'][is_['concern']].mean():.3f}, "
          f"negatives {tiers['reviewer'][is_['negative']].sum()}/{is_['negative'].sum()}")
    base = tiers["reviewer"][labels == emergency].mean()
    chosen = None
    for cap in REVIEW_CAPS:
        for gate in HEAD_GATES:
            kept = tiers["reviewer"] & ~(gateable & (scores[PENALTY] < gate) & (votes[:, 0] < cap))
            cost = base - kept[labels == emergency].mean()
            print(f"emergency vote < {cap:.2f} and head < {gate:+.1f}: emergencies reviewer {kept[labels == emergency].mean():.4f} "
                  f"(-{(tiers['reviewer'] & ~kept)[labels == emergency].sum()}), concerns {kept[labels == concern].mean():.3f}, "
                  f"negatives reviewer {kept[labels == negative].sum()} (-{(tiers['reviewer'] & ~kept)[labels == negative].sum()})")
            removed = int((tiers["reviewer"] & ~kept)[labels == negative].sum())
            if cost <= REVIEW_COST and (chosen is None or removed > chosen[0]):
                chosen = (removed, cap, gate)
    print(f"most held-out negatives off the reviewer tier at a cost of at most {REVIEW_COST:.2%} of held-out "
          f"emergencies there (negatives, cap, gate): {chosen}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purge", type=float, default=0.92, help="Leave out examples at least this similar.")
    parser.add_argument("--compare", action="store_true", help="Raw vote alone against the vote with the metric.")
    parser.add_argument("--folds", type=int, default=1, help="With --compare: fit the metric on the other folds.")
    parser.add_argument("--head", action="store_true", help="The linear head's confident gate, cross-fitted.")
    parser.add_argument("--review", action="store_true", help="The head's reviewer gate, cross-fitted.")
    args = parser.parse_args()
    embedder, status = shared_embedder()
    if embedder is None:
        print(f"model unavailable: {status.detail}", file=sys.stderr)
        return 1
    index = index_bank(shipped_bank(), embedder)
    labels = index.labels.astype(np.int64)
    if args.review:
        review_gates(index.vectors.astype(np.float32), labels, args.purge, max(args.folds, 2))
        return 0
    if args.head:
        head_gates(index.vectors.astype(np.float32), labels, args.purge, max(args.folds, 2))
        return 0
    if args.compare:
        compare(index.vectors.astype(np.float32), labels, args.purge, args.folds)
        return 0
    votes, nearest = held_out_votes(index.vectors.astype(np.float32), labels, args.purge, index.projected)
    emergency, concern, negative = (labels == LABELS.index(name) for name in LABELS)
    limits = DEFAULT_THRESHOLDS
    print(f"bank {len(labels)} examples; purge >= {args.purge}; current: confident vote {limits.confident_vote}, "
          f"review vote {limits.review_vote}")
    caught: dict[tuple[float, float], tuple[float, float]] = {}
    for confident_vote, review_vote in itertools.product(VOTES, VOTES):
        confident = (votes[:, 0] >= confident_vote) & (nearest[:, 0] >= limits.confident_similarity)
        review = confident | ((votes[:, 0] + votes[:, 1] >= review_vote)
                              & (nearest[:, :2].max(axis=1) >= limits.review_similarity))
        print(f"confident vote {confident_vote:.2f} review vote {review_vote:.2f}: "
              f"emergencies confident {confident[emergency].mean():.3f} reviewer {review[emergency].mean():.3f}; "
              f"concerns reviewer {review[concern].mean():.3f}; "
              f"negatives confident {confident[negative].mean():.3f} reviewer {review[negative].mean():.3f}")
        caught[confident_vote, review_vote] = (confident[emergency].mean(), review[emergency].mean())
    best_confident = max((c for (c, _), (rate, _) in caught.items() if rate >= REFERENCE[0]), default=None)
    best_review = max((r for (c, r), (_, rate) in caught.items() if c == best_confident and rate >= REFERENCE[1]),
                      default=None)
    print(f"largest votes keeping held-out emergencies at >= {REFERENCE[0]} confident and >= {REFERENCE[1]} "
          f"reviewer: confident vote {best_confident}, review vote {best_review}")
    print_margins(votes, nearest, emergency, negative)
    return 0


def print_margins(votes: np.ndarray, nearest: np.ndarray, emergency: np.ndarray, negative: np.ndarray) -> None:
    """What the confident margin (closest emergency minus closest negative) keeps of the held-out
    examples the vote alone puts at the confident tier: emergencies kept, negatives let through;
    and the largest margin keeping held-out emergencies at the reference (``confident_margin``)."""
    limits = DEFAULT_THRESHOLDS
    confident = (votes[:, 0] >= limits.confident_vote) & (nearest[:, 0] >= limits.confident_similarity)
    margin = nearest[:, 0] - nearest[:, 2]
    print(f"held-out at the confident tier by the vote: emergencies {confident[emergency].mean():.3f}, "
          f"negatives {confident[negative].mean():.3f}; shipped margin {limits.confident_margin}")
    chosen = None
    for edge in MARGINS:
        kept = confident & (margin >= edge)
        print(f"confident margin {edge:+.3f}: emergencies kept {kept[emergency].sum()}/{confident[emergency].sum()} "
              f"({kept[emergency].mean():.3f} of all), negatives kept {kept[negative].sum()}/{confident[negative].sum()}")
        if kept[emergency].mean() >= REFERENCE[0]:
            chosen = edge
    print(f"largest margin keeping held-out emergencies at >= {REFERENCE[0]} confident: {chosen}")


if __name__ == "__main__":
    raise SystemExit(main())
