"""Changing cases: assign, note, status, close, reopen, merge, classify, hold, release, consent.

Each method is one transaction holding the change and its audit event; each result names the
case and its state afterwards, which is what the command prints (and `--json` shows).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stopit_mail.api.registry import ApiError, Call, Params, method
from stopit_mail.models import Case, CaseStatus


def case_state(case: Case) -> dict[str, Any]:
    """The fields a change can touch, as the result of every casework method."""
    return {"case": case.number, "status": case.status.value, "assigned_to": case.assigned_to,
            "urgency": case.urgency, "categories": list(case.categories or []), "outcome": case.outcome,
            "legal_hold": bool(case.legal_hold)}


def _number(params: Params) -> str:
    return str(params.text("number", required=True))


@method("cases.assign", "number", "staff")
def cases_assign(call: Call, params: Params) -> dict[str, Any]:
    """Make a staff member responsible for the case."""
    from stopit_mail.cases import actions

    with call.case(_number(params)) as (session, case, actor):
        changed = actions.assign(session, actor, case, params.text("staff", required=True), call.settings.staff)
        return {**case_state(case), "changed": changed}


@method("cases.note", "number", "text")
def cases_note(call: Call, params: Params) -> dict[str, Any]:
    """Add a note to the case timeline."""
    from stopit_mail.cases import actions

    with call.case(_number(params)) as (session, case, actor):
        actions.note(session, actor, case, params.text("text", required=True))
        return case_state(case)


@method("cases.status", "number", "status", "reason")
def cases_status(call: Call, params: Params) -> dict[str, Any]:
    """Set the working status (closing is `cases.close`)."""
    from stopit_mail.cases import actions

    status = params.text("status", required=True)
    if status not in {s.value for s in CaseStatus if s is not CaseStatus.CLOSED}:
        raise ApiError("bad-request", f"params.status: found {status!r}, expected a working status (not closed)")
    with call.case(_number(params)) as (session, case, actor):
        changed = actions.set_status(session, actor, case, status, params.text("reason"))
        return {**case_state(case), "changed": changed}


@method("cases.close", "number", "outcome", "resolution")
def cases_close(call: Call, params: Params) -> dict[str, Any]:
    """Close the case with an outcome code and its resolution."""
    from stopit_mail.cases import actions

    outcome, resolution = params.text("outcome", required=True), params.text("resolution", required=True)
    with call.case(_number(params)) as (session, case, actor):
        actions.close(session, actor, case, resolution, outcome, call.settings.casework.outcomes)
        return case_state(case)


@method("cases.reopen", "number", "reason")
def cases_reopen(call: Call, params: Params) -> dict[str, Any]:
    """Reopen a closed case (it returns to the status it had before closing)."""
    from stopit_mail.cases import actions

    with call.case(_number(params)) as (session, case, actor):
        actions.reopen(session, actor, case, params.text("reason"))
        return case_state(case)


@method("cases.merge", "number", "into")
def cases_merge(call: Call, params: Params) -> dict[str, Any]:
    """Merge the case into another; it stays as a closed pointer."""
    from stopit_mail.cases import actions
    from stopit_mail.cases.queries import get_case

    actor = call.actor
    with call.session() as session:
        case, into = get_case(session, _number(params)), get_case(session, params.text("into", required=True))
        moved = actions.merge(session, actor, case, into)
        return {"case": case.number, "into": into.number, "moved": moved}


@method("cases.classify", "number", "categories", "urgency", "reason")
def cases_classify(call: Call, params: Params) -> dict[str, Any]:
    """Override triage (categories and/or urgency) with a reason; an emergency pages the chain."""
    from stopit_mail.cases import actions
    from stopit_mail.cases.escalation import start_escalation
    from stopit_mail.cases.triage import CATEGORIES, URGENCIES

    categories, urgency = params.texts("categories"), params.text("urgency")
    reason = params.text("reason", required=True)
    if not categories and urgency is None:
        raise ApiError("bad-request", "give at least one category or an urgency")
    if bad := [c for c in categories if c not in CATEGORIES] + ([urgency] if urgency and urgency not in URGENCIES else []):
        raise ApiError("bad-request", f"unknown category or urgency: {', '.join(bad)}")
    with call.case(_number(params)) as (session, case, actor):
        actions.classify(session, actor, case, categories, urgency, reason)
        # A person judging a case an emergency pages the chain exactly as triage would.
        paged = case.urgency == "emergency" and start_escalation(
            session, call.settings, case, datetime.now(UTC)) is not None
        return {**case_state(case), "escalation_started": paged}


def _hold(call: Call, params: Params, hold: bool) -> dict[str, Any]:
    from stopit_mail.cases.retention import set_hold

    with call.case(_number(params)) as (session, case, actor):
        set_hold(session, actor, case, params.text("reason", required=True), hold)
        return {**case_state(case), "legal_hold": hold}


@method("cases.hold", "number", "reason")
def cases_hold(call: Call, params: Params) -> dict[str, Any]:
    """Put the case on legal hold: retention never purges it until released."""
    return _hold(call, params, True)


@method("cases.release", "number", "reason")
def cases_release(call: Call, params: Params) -> dict[str, Any]:
    """Release a legal hold (admin role)."""
    return _hold(call, params, False)


@method("cases.consent", "number", "reason")
def cases_consent(call: Call, params: Params) -> dict[str, Any]:
    """Record that the reporter agreed to share their identity with offices."""
    from stopit_mail.cases.referrals import record_consent

    with call.case(_number(params)) as (session, case, actor):
        record_consent(session, actor, case, params.text("reason", required=True))
        return {**case_state(case), "consent": True}
