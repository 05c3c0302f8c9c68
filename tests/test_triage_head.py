"""The bank's linear head (``detect.head``) and its gate on the confident tier.

The head is fitted deterministically on the shipped bank when it is indexed; it only ever holds the
model's own confident verdict for the reviewer (never lower, never a rule's emergency, never a
word-for-word review), never vetoes an organisation's own emergency example, and an organisation's
examples still count at once without refitting it. Vectors are made directly (seeded numpy), so
these tests need neither the model nor the stand-in.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from stopit_mail.cases.detect.bank import LABELS, BankIndex, Example, fitted_index, make_bank
from stopit_mail.cases.detect.head import MIN_FIT, fit_head
from stopit_mail.cases.detect.scoring import Neighbourhood, score_vectors
from stopit_mail.cases.detect.sentences import Sentence
from stopit_mail.cases.detect.tiers import DEFAULT_THRESHOLDS, confident_or_reviewer, decide, unit_verdict
from stopit_mail.cases.triage import compile_rules, load_rules, triage

DIM = 384
EMERGENCY, CONCERN, NEGATIVE = (LABELS.index(name) for name in ("emergency", "concern", "negative"))
RULES = compile_rules(load_rules())


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _bank_rows(count: int, seed: int = 3) -> tuple[list[Example], np.ndarray, np.ndarray]:
    """Three labels around three centres on a strong common direction (as e5's vectors are)."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=DIM) * 3.0
    centres = rng.normal(size=(len(LABELS), DIM))
    labels = np.array([i % len(LABELS) for i in range(count)])
    rows = _unit(np.stack([common + centres[label] * 0.5 + rng.normal(size=DIM) for label in labels]))
    examples = [Example(LABELS[label], "other", f"example {i}", "en") for i, label in enumerate(labels)]
    return examples, rows, labels


@pytest.fixture(scope="module")
def shipped() -> BankIndex:
    examples, rows, _ = _bank_rows(3 * MIN_FIT + 60)
    return fitted_index(make_bank(examples), rows)


def test_the_head_is_fitted_from_the_bank_deterministically_and_only_when_large_enough(shipped: BankIndex) -> None:
    _, rows, labels = _bank_rows(3 * MIN_FIT + 60)
    again = fit_head(rows, labels, EMERGENCY, NEGATIVE)
    assert shipped.head is not None and again is not None
    assert np.array_equal(shipped.head.weights, again.weights) and shipped.head.bias == again.bias
    assert np.array_equal(shipped.head.mean, again.mean)
    # Concerns are left out of the fit: changing them changes nothing.
    moved = rows.copy()
    moved[labels == CONCERN] = _unit(moved[labels == CONCERN] + 5.0)
    other = fit_head(moved, labels, EMERGENCY, NEGATIVE)
    assert other is not None and np.array_equal(other.weights, again.weights)
    # Too few emergencies: no head, and scoring leaves the head out.
    few = fitted_index(make_bank(_bank_rows(3 * MIN_FIT - 30)[0][:90]), rows[:90])
    assert few.head is None
    assert score_vectors(rows[:2], [few])[0].head is None


def test_the_head_tells_held_out_emergencies_from_negatives() -> None:
    """Fitted on some rows, scored on others drawn around the same centres: it separates them."""
    _, rows, labels = _bank_rows(4 * MIN_FIT * 3 // 2)
    cut = 3 * MIN_FIT + 30
    head = fit_head(rows[:cut], labels[:cut], EMERGENCY, NEGATIVE)
    assert head is not None
    scores, held = head.score(rows[cut:]), labels[cut:]
    assert (scores[held == EMERGENCY] > 0).mean() > 0.9 and (scores[held == NEGATIVE] < 0).mean() > 0.9


def test_each_sentence_carries_the_heads_score(shipped: BankIndex) -> None:
    assert shipped.head is not None
    queries = _unit(shipped.vectors[:6] + np.random.default_rng(2).normal(size=(6, DIM)) * 0.05)
    hoods = score_vectors(queries, [shipped])
    assert [h.head for h in hoods] == pytest.approx(list(shipped.head.score(queries)), abs=1e-9)


def _confident(source: str = "shipped", head: float | None = -3.0, same: bool = False) -> Neighbourhood:
    """A sentence the vote alone places among emergencies (nearest emergency example from
    ``source``), which the head scores ``head``."""
    emergency = Example("emergency", "self-harm", "the blue kite is stuck on the mill roof at dawn", "en", source)
    negative = Example("negative", "other", "the cafeteria pizza on friday was cold again", "en")
    return Neighbourhood({"emergency": 0.9, "concern": 0.0, "negative": 0.1}, emergency, 0.93,
                         {"emergency": (emergency, 0.93), "negative": (negative, 0.86)}, same, head)


def _model_only(hood: Neighbourhood, text: str = "the blue kite is stuck again") -> tuple[str, str]:
    decision = decide(triage(text, RULES), [Sentence(text)], ["en"], [hood], frozenset({"en"}), "test")
    return decision.urgency, decision.explanation()


def test_the_gate_holds_a_model_only_emergency_for_the_reviewer_and_never_lower() -> None:
    assert DEFAULT_THRESHOLDS.confident_head is not None
    assert _model_only(_confident(head=DEFAULT_THRESHOLDS.confident_head + 0.5))[0] == "emergency"
    for head in (DEFAULT_THRESHOLDS.confident_head - 0.1, -8.0, -50.0):
        urgency, why = _model_only(_confident(head=head))
        assert urgency == "possible-emergency", why
        assert "linear head reads the sentence as no emergency" in why
    # Through confident_or_reviewer alone, too: held at possible-emergency, with its reason.
    hood = _confident(head=-50.0)
    held, why = confident_or_reviewer("x", hood, unit_verdict(hood), DEFAULT_THRESHOLDS)
    assert held.tier == "possible-emergency" and why
    # No head (a bank too small to fit one) or the gate switched off: the vote decides.
    assert _model_only(_confident(head=None))[0] == "emergency"
    off = replace(DEFAULT_THRESHOLDS, confident_head=None)
    assert confident_or_reviewer("x", hood, unit_verdict(hood), off)[0].tier == "emergency"


def test_the_gate_never_lowers_a_rules_emergency_or_a_word_for_word_review() -> None:
    text = "I am going to kill myself tonight"
    assert triage(text, RULES).urgency == "emergency"
    assert _model_only(_confident(head=-50.0), text)[0] == "emergency"
    urgency, why = _model_only(_confident(head=-50.0, same=True), "the blue kite is stuck on the mill roof at dawn")
    assert urgency == "emergency", why


def test_an_organisations_own_emergency_example_still_pages(shipped: BankIndex) -> None:
    """The shipped bank's head never vetoes what an organisation's staff reviewed as an emergency."""
    urgency, why = _model_only(_confident(source="organisation", head=-50.0))
    assert urgency == "emergency", why
    # End to end through scoring: a sentence close to the organisation's own emergency example,
    # which the shipped head reads as a negative, still pages the chain.
    assert shipped.head is not None
    negatives = shipped.vectors[shipped.labels == NEGATIVE]
    query = negatives[:1]
    own_rows = np.repeat(query, 3, axis=0)
    own = BankIndex(make_bank([Example("emergency", "self-harm", f"own {i}", "en", "organisation") for i in range(3)]),
                    own_rows, np.full(3, EMERGENCY, dtype=np.int8))
    hood = score_vectors(_unit(query + np.random.default_rng(4).normal(size=(1, DIM)) * 0.01), [shipped, own])[0]
    assert hood.head is not None and hood.head < 0
    assert hood.by_label["emergency"][0].source == "organisation"
    assert unit_verdict(hood).tier == "emergency"
    assert confident_or_reviewer("x", hood, unit_verdict(hood), DEFAULT_THRESHOLDS)[0].tier == "emergency"


def test_an_organisations_negative_counts_at_once_without_refitting_the_head(shipped: BankIndex) -> None:
    assert shipped.head is not None
    weights_before, bias_before = shipped.head.weights.copy(), shipped.head.bias
    emergencies = shipped.vectors[shipped.labels == EMERGENCY]
    rng = np.random.default_rng(9)
    query = _unit(emergencies[:1] + rng.normal(size=(1, DIM)) * 0.05)
    alone = score_vectors(query, [shipped])[0]
    own_rows = _unit(np.repeat(query, 3, axis=0) + rng.normal(size=(3, DIM)) * 0.01)
    own = BankIndex(make_bank([Example("negative", "other", f"dismissed {i}", "en", "organisation") for i in range(3)]),
                    own_rows, np.full(3, NEGATIVE, dtype=np.int8))
    with_own = score_vectors(query, [shipped, own])[0]
    assert with_own.probability("negative") > alone.probability("negative") + 0.3
    assert unit_verdict(with_own).tier != "emergency"
    assert with_own.head == alone.head
    assert np.array_equal(shipped.head.weights, weights_before) and shipped.head.bias == bias_before
