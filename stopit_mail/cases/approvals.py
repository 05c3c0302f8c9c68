"""Two-person reveal (GlobaLeaks' custodian model): a request, a second person's approval, a window.

Where an organisation sets `reveal_approval`, the identity gate lets a reveal through only for
the staff member who requested it, after a *different* staff member with the `approver` role
approved the request, and only until `reveal_approval_minutes` after that approval. Every step
is an audit event naming both people; the request's reasons are kept on the request itself.
The clock is a parameter so tests (and the worker) control time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.staff import Actor, PermissionDenied
from stopit_mail.config import Settings
from stopit_mail.errors import NotFound, StopitError
from stopit_mail.models import Case, RevealRequest

MIN_REASON = 10


class ApprovalNeeded(StopitError):
    """The organisation wants a second person's approval before this reveal."""


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored one is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def approval_required(settings: Settings, case: Case | None) -> bool:
    """True when revealing on this case (or an unfiled message, if any organisation asks) needs approval."""
    if case is None:
        return any(org.reveal_approval for org in settings.organisations)
    org = settings.organisation(case.organisation)
    return bool(org and org.reveal_approval)


def _check_reason(reason: str, what: str) -> str:
    if len((reason or "").strip()) < MIN_REASON:
        raise StopitError(f"{what} needs --reason of at least {MIN_REASON} characters (it is kept in the audit log)")
    return reason.strip()


def usable_request(session: Session, actor: Actor, case: Case, now: datetime | None = None) -> RevealRequest | None:
    """The actor's approved request on this case whose window is still open, if any."""
    moment = _now(now)
    for request in session.scalars(select(RevealRequest).where(
            RevealRequest.case_id == case.id, RevealRequest.requested_by == actor.name,
            RevealRequest.status == "approved").order_by(RevealRequest.id.desc())):
        if request.expires_at is not None and _aware(request.expires_at) > moment:
            return request
    return None


def require_approval(session: Session, settings: Settings, actor: Actor, case: Case | None,
                     now: datetime | None = None) -> RevealRequest | None:
    """The approval that lets this reveal through, None when none is needed; raises ApprovalNeeded."""
    if not approval_required(settings, case):
        return None
    if case is None:
        raise ApprovalNeeded("reveals need a second person's approval here, and an unfiled message has no case "
                             "to approve it on: retry it into a case first")
    request = usable_request(session, actor, case, now)
    if request is None:
        raise ApprovalNeeded(f"revealing on case {case.number} needs an approved request: run "
                             f"`stopit reveal {case.number} --reason ...`, then ask an approver")
    return request


def request_reveal(session: Session, settings: Settings, actor: Actor, case: Case, reason: str,
                   now: datetime | None = None) -> RevealRequest:
    """File a reveal request (reveal role, reason), or return the actor's pending one."""
    actor.check_case(case)
    actor.check_role("reveal")
    text = _check_reason(reason, "a reveal request")
    pending = session.scalar(select(RevealRequest).where(
        RevealRequest.case_id == case.id, RevealRequest.requested_by == actor.name,
        RevealRequest.status == "pending"))
    if pending is not None:
        return pending
    request = RevealRequest(case_id=case.id, requested_by=actor.name, reason=text, requested_at=_now(now))
    session.add(request)
    session.flush()
    events.record(session, "reveal-requested", case.id, actor=actor.name, automatic=False,
                  request_id=request.id, reason=text)
    return request


def decide(session: Session, settings: Settings, actor: Actor, request_id: int, reason: str, approve: bool,
           now: datetime | None = None) -> RevealRequest:
    """Approve or deny a pending request: approver role, a different person, a reason; audited."""
    request = session.get(RevealRequest, request_id)
    if request is None:
        raise NotFound(f"no reveal request {request_id}")
    case = session.get(Case, request.case_id)
    assert case is not None
    actor.check_case(case)
    actor.check_role("approver")
    if actor.name.lower() == request.requested_by.lower():
        raise PermissionDenied("a reveal must be approved by a second person, not by its requester")
    if request.status != "pending":
        raise StopitError(f"reveal request {request_id} was already {request.status} by {request.decided_by}")
    text = _check_reason(reason, "approving or denying a reveal")
    moment = _now(now)
    org = settings.organisation(case.organisation)
    minutes = org.reveal_approval_minutes if org else 60
    request.status = "approved" if approve else "denied"
    request.decided_by, request.decided_at = actor.name, moment  # the reason is in the audit event
    request.expires_at = moment + timedelta(minutes=minutes) if approve else None
    events.record(session, f"reveal-{request.status}", case.id, actor=actor.name, automatic=False,
                  request_id=request.id, requested_by=request.requested_by, reason=text,
                  window_minutes=minutes if approve else 0)
    return request


def list_requests(session: Session, actor: Actor, now: datetime | None = None) -> list[dict[str, object]]:
    """Requests on cases the actor may see, newest first, with their state at `now`."""
    moment = _now(now)
    rows = []
    for request, case in session.execute(select(RevealRequest, Case).join(Case, Case.id == RevealRequest.case_id)
                                         .order_by(RevealRequest.id.desc())):
        if not actor.may_see(case.organisation):
            continue
        state = request.status
        if state == "approved" and request.expires_at is not None and _aware(request.expires_at) <= moment:
            state = "expired"
        rows.append({"id": request.id, "case": case.number, "requested_by": request.requested_by,
                     "requested_at": request.requested_at, "reason": request.reason, "state": state,
                     "decided_by": request.decided_by, "expires_at": request.expires_at})
    return rows
