"""Triage one report in the worker: the shared detector plus the organisation's own examples."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from stopit_mail.cases.detect.detector import shared_detector
from stopit_mail.cases.detect.model import ModelStatus
from stopit_mail.cases.triage import CompiledRules, TriageRule
from stopit_mail.cases.triage_decision import TriageDecision
from stopit_mail.cases.triage_examples import organisation_examples
from stopit_mail.config import Settings

CACHE_FOLDER = "cache"


def assess_report(session: Session, settings: Settings, organisation: str, text: str,
                  rules: Sequence[TriageRule] | CompiledRules, subject: str = "") -> TriageDecision:
    """Rules, then the model against the shipped bank and ``organisation``'s reviewed examples."""
    detector = shared_detector(settings.data_path / CACHE_FOLDER)
    return detector.assess(text, rules, subject=subject, examples=organisation_examples(session, organisation))


def start_detector(settings: Settings) -> ModelStatus:
    """Load the model and the bank's embeddings before the first report needs them.

    Called when the server or the worker starts: a missing or tampered model is then announced
    at start-up (and in `stopit status`), not discovered on the first emergency.
    """
    detector = shared_detector(settings.data_path / CACHE_FOLDER)
    if detector.embedder is not None:
        detector.index()
    return detector.status
