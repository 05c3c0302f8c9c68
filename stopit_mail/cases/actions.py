"""Staff casework: assign, note, change status, close, reopen, merge, classify.

Each action checks that the actor works for the case's organisation, changes the case, and
appends its audit event (actor, time, what and why) in the caller's transaction, so a change
and its record are committed together or not at all. A closed case refuses every change except
`reopen`. Actions that would change nothing return False and record nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.staff import Actor
from stopit_mail.cases.triage import CATEGORIES, URGENCIES
from stopit_mail.config import StaffMember
from stopit_mail.errors import StopitError
from stopit_mail.models import Case, CaseStatus, Event, Evidence, RawMessage, Report

__all__ = [
    "ActionRefused", "assign", "classify", "close", "follow_merges", "merge", "note", "reopen", "set_status",
]


class ActionRefused(StopitError):
    """The action does not apply to the case as it stands (closed, merged, same case...)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _check_open(actor: Actor, case: Case) -> None:
    actor.check_case(case)
    if case.status is CaseStatus.CLOSED:
        raise ActionRefused(f"case {case.number} is closed; reopen it first (stopit cases reopen {case.number})")


def _record(session: Session, actor: Actor, case: Case, action: str, **detail: Any) -> None:
    case.updated_at = _now()
    events.record(session, action, case.id, actor=actor.name, automatic=False, **detail)


def _required(text: str | None, what: str) -> str:
    value = (text or "").strip()
    if not value:
        raise ActionRefused(f"{what} must not be empty")
    return value


def assign(session: Session, actor: Actor, case: Case, assignee: str,
           staff: Sequence[StaffMember] = ()) -> bool:
    """Make `assignee` responsible for the case.

    When staff are configured (`staff`), the assignee must be one of them and work for the
    case's organisation; their configured spelling of the name is stored.
    """
    _check_open(actor, case)
    name = _required(assignee, "the assignee")
    if staff:
        member = next((s for s in staff if s.name.lower() == name.lower()), None)
        if member is None:
            raise ActionRefused(f"{name!r} is not a configured staff member "
                                f"(known: {', '.join(s.name for s in staff)})")
        if member.organisations and case.organisation not in member.organisations:
            raise ActionRefused(f"{member.name} does not work for organisation {case.organisation!r}")
        name = member.name
    if case.assigned_to == name:
        return False
    previous = case.assigned_to
    case.assigned_to = name
    _record(session, actor, case, "case-assigned", assignee=name, previous=previous)
    return True


def note(session: Session, actor: Actor, case: Case, text: str) -> None:
    """Add a staff note to the case timeline (notes live only in the audit log)."""
    _check_open(actor, case)
    _record(session, actor, case, "note-added", text=_required(text, "a note"))


def set_status(session: Session, actor: Actor, case: Case, status: str | CaseStatus,
               reason: str | None = None) -> bool:
    """Move the case to another working status. Closing needs a resolution: use `close`."""
    _check_open(actor, case)
    try:
        new = CaseStatus(status)
    except ValueError:
        raise ActionRefused(f"unknown status {status!r}; expected one of "
                            f"{', '.join(s.value for s in CaseStatus)}") from None
    if new is CaseStatus.CLOSED:
        raise ActionRefused(f"closing needs a resolution: stopit cases close {case.number} --resolution TEXT")
    if case.status is new:
        return False
    previous = case.status
    case.status = new
    _record(session, actor, case, "status-changed", status=new.value, previous=previous.value,
            reason=(reason or "").strip() or None)
    return True


def close(session: Session, actor: Actor, case: Case, resolution: str, outcome: str,
          outcomes: Sequence[str]) -> None:
    """Close the case with an outcome code (one of `outcomes`, for statistics) and what was done."""
    _check_open(actor, case)
    if outcome not in outcomes:
        raise ActionRefused(f"unknown outcome {outcome!r}; expected one of {', '.join(outcomes)}")
    text = _required(resolution, "the resolution")
    previous = case.status
    case.status = CaseStatus.CLOSED
    case.resolution = text
    case.outcome = outcome
    case.closed_at = _now()
    _record(session, actor, case, "case-closed", outcome=outcome, resolution=text, previous=previous.value)


def _status_before_close(session: Session, case: Case) -> CaseStatus:
    """The status recorded by the last close, so a reopened case resumes where it was."""
    detail = session.scalar(select(Event.detail).where(Event.case_id == case.id, Event.action == "case-closed")
                            .order_by(Event.id.desc()).limit(1))
    try:
        status = CaseStatus((detail or {}).get("previous", "new"))
    except ValueError:
        status = CaseStatus.NEW
    return CaseStatus.NEW if status is CaseStatus.CLOSED else status


def reopen(session: Session, actor: Actor, case: Case, reason: str | None = None) -> None:
    """Reopen a closed case; it returns to the status it had when it was closed."""
    actor.check_case(case)
    if case.status is not CaseStatus.CLOSED:
        raise ActionRefused(f"case {case.number} is {case.status.value}, not closed")
    if case.merged_into_id is not None:
        target = session.get(Case, case.merged_into_id)
        raise ActionRefused(f"case {case.number} was merged into {target.number if target else '?'}; "
                            "work on that case instead")
    status = _status_before_close(session, case)
    previous_resolution, previous_outcome = case.resolution, case.outcome
    case.status = status
    case.resolution = case.outcome = None
    case.closed_at = None
    _record(session, actor, case, "case-reopened", reason=(reason or "").strip() or None, status=status.value,
            previous_resolution=previous_resolution, previous_outcome=previous_outcome)


def _urgency_rank(urgency: str) -> int:
    return URGENCIES.index(urgency) if urgency in URGENCIES else len(URGENCIES)


def follow_merges(session: Session, case: Case) -> Case:
    """The case that now holds `case`'s reports: itself, or the end of its merged_into chain."""
    seen = {case.id}
    while case.merged_into_id is not None:
        target = session.get(Case, case.merged_into_id)
        if target is None or target.id in seen:
            break
        seen.add(target.id)
        case = target
    return case


def _move(session: Session, model: type[Report] | type[Evidence] | type[RawMessage], source: int, target: int) -> int:
    """Point every row of `model` on case `source` at case `target`; the number moved."""
    result = session.execute(update(model).where(model.case_id == source).values(case_id=target))
    return int(cast("CursorResult[Any]", result).rowcount)


def merge(session: Session, actor: Actor, case: Case, into: Case) -> dict[str, int]:
    """Merge `case` into `into`: the reports of one matter belong in one case.

    The target receives the reports, their evidence and stored messages, and the parties it
    lacks; it takes the union of categories and the more urgent urgency. The merged case stays
    as a pointer (`merged_into_id`, closed, resolution "merged into X") so its number, reporter
    alias and timeline keep working; its events are not moved (the log is append-only). Both
    cases get an event. Returns the counts moved.
    """
    _check_open(actor, case)
    _check_open(actor, into)
    if case.id == into.id:
        raise ActionRefused("a case cannot be merged into itself")
    if into.merged_into_id is not None:
        raise ActionRefused(f"case {into.number} was itself merged; merge into {follow_merges(session, into).number}")
    if case.organisation != into.organisation:
        raise ActionRefused(f"cases of different organisations cannot be merged "
                            f"({case.organisation!r} and {into.organisation!r})")
    session.flush()
    moved = {"reports": _move(session, Report, case.id, into.id),
             "evidence": _move(session, Evidence, case.id, into.id),
             "messages": _move(session, RawMessage, case.id, into.id), "parties": 0}
    existing = {(p.role, p.address, p.display_name) for p in into.parties}
    for party in list(case.parties):
        if (party.role, party.address, party.display_name) in existing:
            session.delete(party)
        else:
            party.case_id = into.id
            moved["parties"] += 1
    categories = list(dict.fromkeys([*into.categories, *case.categories]))
    urgency = min(into.urgency, case.urgency, key=_urgency_rank)
    into.categories, into.urgency = categories, urgency
    case.merged_into_id = into.id
    previous = case.status
    case.status = CaseStatus.CLOSED
    case.resolution = f"merged into {into.number}"
    # Merging is how a duplicate report is closed, whatever codes the organisation configured.
    case.outcome = "duplicate"
    case.closed_at = _now()
    _record(session, actor, case, "case-merged-into", into=into.number, previous=previous.value, **moved)
    _record(session, actor, into, "case-merged-from", source=case.number, categories=categories,
            urgency=urgency, **moved)
    session.flush()
    # The relationships loaded before the bulk updates are stale now.
    relationships = ["reports", "evidence", "parties"]
    session.expire(case, relationships)
    session.expire(into, relationships)
    return moved


def classify(session: Session, actor: Actor, case: Case, categories: Sequence[str] | None = None,
             urgency: str | None = None, reason: str = "") -> None:
    """Override triage: set the categories and/or urgency, recording who and why.

    The automatic decision already in `case.triage` (its matches and explanation) is kept; the
    override is stored beside it under "override", so a reader sees both what the rules said
    and what a person decided. A new case becomes triaged.
    """
    _check_open(actor, case)
    why = _required(reason, "the reason for the classification")
    chosen = list(dict.fromkeys(c.strip().lower() for c in (categories or []) if c.strip()))
    unknown = [c for c in chosen if c not in CATEGORIES]
    if unknown:
        raise ActionRefused(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                            f"expected {', '.join(CATEGORIES)}")
    if urgency is not None and urgency not in URGENCIES:
        raise ActionRefused(f"unknown urgency {urgency!r}; expected {', '.join(URGENCIES)}")
    if not chosen and urgency is None:
        raise ActionRefused("give at least one --category or an --urgency")
    new_categories = chosen or list(case.categories)
    new_urgency = urgency or case.urgency
    at = _now()
    override = {
        "by": actor.name, "at": at.isoformat(), "reason": why, "categories": new_categories,
        "urgency": new_urgency, "previous": {"categories": list(case.categories), "urgency": case.urgency},
    }
    # A new dict, so the JSON column is seen as changed.
    case.triage = {**(case.triage or {}), "override": override}
    case.categories = new_categories
    case.urgency = new_urgency
    detail: dict[str, Any] = {"categories": new_categories, "urgency": new_urgency, "reason": why,
                              "previous": override["previous"]}
    if case.status is CaseStatus.NEW:
        case.status = CaseStatus.TRIAGED
        detail["status"] = CaseStatus.TRIAGED.value
    _record(session, actor, case, "case-classified", **detail)
