"""Apply a triage decision to a case: the rules of merging verdicts, in one place.

A case that another report joins keeps its most urgent verdict and the union of categories; a
staff override (`cases classify`) is never undone, but a new emergency still escalates. A reply
on a case only ever raises its urgency, and an emergency in a reply pages.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.escalation_review import POSSIBLE_EMERGENCY, escalate_for_urgency
from stopit_mail.cases.triage import URGENCIES, TriageDecision
from stopit_mail.config import Settings
from stopit_mail.models import Case, CaseStatus
from stopit_mail.rowbuffer import write_through


def apply_report_triage(session: Session, case: Case, decision: TriageDecision) -> None:
    """Record a new report's verdict on its (new or joined) case."""
    previous = case.triage or {}
    urgency = min(decision.urgency, case.urgency if previous else "routine", key=URGENCIES.index)
    if previous.get("override") and urgency != "emergency":
        events.record(session, "triage-kept-override", case.id, automatic_decision=decision.to_dict())
        return
    categories = sorted(set(case.categories or []) | set(decision.categories)) if previous else decision.categories
    if len(categories) > 1 and "other" in categories:
        categories.remove("other")
    automatic = decision.to_dict()
    explanation = automatic["explanation"]  # written out once (the dict holds it)
    # Written with Core (held for the batch in the worker): the case object takes the values as is.
    values: dict[str, object] = {"urgency": urgency, "categories": categories,
                                 "triage": {**previous, "automatic": automatic, "explanation": explanation}}
    if case.status is CaseStatus.NEW:
        values["status"] = CaseStatus.TRIAGED
    write_through(session, case, values)
    # A plain insert (one per report): flushed in order with the case's pending changes.
    events.record_all(session, [events.entry("triaged", case.id, urgency=urgency, categories=categories,
                                             explanation=explanation[:2000])])


def apply_reply_triage(session: Session, settings: Settings, case: Case, decision: TriageDecision,
                       raw_message_id: int, now: datetime) -> None:
    """Raise a case's urgency from a reply's verdict; page when the reply is an emergency."""
    if URGENCIES.index(decision.urgency) >= URGENCIES.index(case.urgency) and decision.urgency != "emergency":
        return
    if URGENCIES.index(decision.urgency) < URGENCIES.index(case.urgency):
        case.urgency = decision.urgency
        case.categories = sorted(set(case.categories or []) - {"other"} | set(decision.categories))
        events.record(session, "triaged", case.id, urgency=case.urgency, categories=case.categories,
                      source="reply", raw_message_id=raw_message_id, explanation=decision.explanation()[:2000])
    if decision.urgency in ("emergency", POSSIBLE_EMERGENCY):
        escalate_for_urgency(session, settings, case, now)
