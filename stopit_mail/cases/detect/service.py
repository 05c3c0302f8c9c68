"""Triage in the worker: the shared detector, then the organisation's own reviewed examples.

The model runs in a handler's `prepare`, outside any transaction (it costs tens of milliseconds
per new sentence; a flood of near-identical reports costs one scoring thanks to the detector's
sentence cache). An organisation's own examples live in the database, so they are weighed in
`process`, inside the message's transaction, and only when the organisation has any: every
sentence was embedded in `prepare`, so that second look is a matrix product, not a model run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.orm import Session

from stopit_mail.cases.detect.bank import Example
from stopit_mail.cases.detect.bank_state import CACHE_FOLDER
from stopit_mail.cases.detect.detector import shared_detector
from stopit_mail.cases.detect.model import ModelStatus
from stopit_mail.cases.triage import CompiledRules, TriageRule
from stopit_mail.cases.triage_decision import TriageDecision
from stopit_mail.cases.triage_examples import organisation_examples
from stopit_mail.config import Settings

log = logging.getLogger(__name__)
# Where a worker's write session keeps the examples it read, per organisation (`session.info`).
_EXAMPLES_READ = "stopit.organisation_examples"


def assess_text(settings: Settings, text: str, rules: Sequence[TriageRule] | CompiledRules,
                subject: str = "") -> TriageDecision:
    """Rules, then the model against the shipped bank (no database: for a handler's `prepare`)."""
    return shared_detector(settings.data_path / CACHE_FOLDER).assess(text, rules, subject=subject)


def with_organisation_examples(session: Session, settings: Settings, organisation: str, decision: TriageDecision,
                               text: str, rules: Sequence[TriageRule] | CompiledRules,
                               subject: str = "") -> TriageDecision:
    """``decision`` again with ``organisation``'s reviewed examples beside the bank, if it has any.

    Called by the worker's handlers only, whose session is one write transaction for a batch:
    the examples are read once per organisation and transaction (staff add them in transactions
    of their own, so an example added meanwhile counts from the next batch on, as it would
    have had it been added a moment later)."""
    read: dict[str, list[Example]] = session.info.setdefault(_EXAMPLES_READ, {})
    examples = read.get(organisation)
    if examples is None:
        examples = read[organisation] = organisation_examples(session, organisation)
    if not examples:
        return decision
    detector = shared_detector(settings.data_path / CACHE_FOLDER)
    return detector.assess(text, rules, subject=subject, examples=examples)


def assess_report(session: Session, settings: Settings, organisation: str, text: str,
                  rules: Sequence[TriageRule] | CompiledRules, subject: str = "") -> TriageDecision:
    """Rules, then the model against the shipped bank and ``organisation``'s reviewed examples."""
    detector = shared_detector(settings.data_path / CACHE_FOLDER)
    return detector.assess(text, rules, subject=subject, examples=organisation_examples(session, organisation))


def start_detector(settings: Settings, background: bool = True) -> ModelStatus:
    """Load the model now and its reviewed examples' embeddings (in the background by default).

    Called when the server or the worker starts: a missing or tampered model is then announced
    at start-up (and in `stopit status`), not discovered on the first emergency. Embedding the
    bank takes minutes on a first start without a cache; meanwhile reports are triaged on the
    rules with every report at least *urgent*, instead of waiting.
    """
    detector = shared_detector(settings.data_path / CACHE_FOLDER)
    if detector.embedder is None:
        return detector.status
    detector.warm(background)
    return detector.status
