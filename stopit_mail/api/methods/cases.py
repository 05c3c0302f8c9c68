"""Reading cases: `cases.list`, `cases.show`, `cases.raw`, `cases.search`, `cases.seen`.

Each result is what the matching command prints with `--json` (docs/api.md gives the schemas).
"""

from __future__ import annotations

import base64
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from stopit_mail.api.registry import ApiError, Call, Params, method
from stopit_mail.models import CaseStatus


def since_param(params: Params) -> datetime | None:
    """`params.since` as an aware datetime (ISO 8601; a date alone means its midnight UTC)."""
    text = params.text("since")
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError("bad-request", f"params.since: found {text!r}, expected an ISO 8601 date or time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@method("cases.list", "status", "urgency", "category", "assignee", "organisation", "offender", "since", "text",
        "limit", "page")
def cases_list(call: Call, params: Params) -> dict[str, Any]:
    """A page of the cases the caller may see, newest first, and how many match in all."""
    from stopit_mail.cases import queries

    status = params.text("status")
    if status is not None and status not in {s.value for s in CaseStatus}:
        raise ApiError("bad-request", f"params.status: found {status!r}, expected one of "
                                      f"{', '.join(s.value for s in CaseStatus)}")
    limit, page = params.integer("limit", 50, low=1, high=1000), params.integer("page", 1, low=1)
    where = queries.CaseFilter(status=status, since=since_param(params), text=params.text("text"),
                               urgency=params.text("urgency"), category=params.text("category"),
                               assignee=params.text("assignee"), organisation=params.text("organisation"),
                               offender=params.text("offender"))
    viewer = call.actor
    with call.session() as session:
        total = queries.count_cases(session, where, viewer)
        rows = queries.list_cases(session, where, viewer, limit=limit, offset=(page - 1) * limit, total=total)
    return {"cases": rows, "total": total, "page": page, "limit": limit}


@method("cases.show", "number")
def cases_show(call: Call, params: Params) -> dict[str, Any]:
    """One case in full; reading it stops its read deadline (no report left unread)."""
    from stopit_mail.cases import queries
    from stopit_mail.cases.escalation_unread import mark_seen
    from stopit_mail.cases.offenders import related_cases

    number = params.text("number", required=True)
    viewer = call.actor
    with call.session() as session:
        detail = queries.case_detail(session, number, actor=viewer)
        case = queries.get_case(session, detail["number"])
        detail["related_cases"] = [asdict(r) for r in related_cases(session, case, viewer)]
        mark_seen(session, call.settings, case, viewer.name, datetime.now(UTC), via="cases show")
    return detail


@method("cases.raw", "number", "message", "reason")
def cases_raw(call: Call, params: Params) -> dict[str, Any]:
    """The original bytes of one of the case's stored messages (base64), through the identity gate."""
    from stopit_mail.cases import queries
    from stopit_mail.cases.escalation_unread import mark_seen
    from stopit_mail.cases.identity_gate import open_stored_message

    number, raw_id = params.text("number", required=True), params.integer("message", required=True)
    viewer = call.actor
    with call.session() as session:
        detail = queries.case_detail(session, number, actor=viewer)
        allowed = {r["raw_message_id"] for r in detail["reports"]} | set(detail["other_messages"])
        if raw_id not in allowed:
            raise ApiError("bad-request", f"message {raw_id} does not belong to case {detail['number']}")
        # Bytes that could name an anonymous reporter pass the identity gate (role, reason, audit).
        content = open_stored_message(session, call.settings, viewer, raw_id, params.text("reason"))
        mark_seen(session, call.settings, queries.get_case(session, detail["number"]), viewer.name,
                  datetime.now(UTC), via="cases show")
    return {"case": detail["number"], "message": raw_id, "base64": base64.b64encode(content).decode("ascii")}


@method("cases.search", "text", "limit")
def cases_search(call: Call, params: Params) -> list[dict[str, Any]]:
    """Cases whose titles, reports, evidence, senders or notes contain the words."""
    from stopit_mail.cases.search import search_cases

    text, limit = params.text("text", required=True), params.integer("limit", 50, low=1, high=1000)
    viewer = call.actor
    with call.session() as session:
        return search_cases(session, text, actor=viewer, limit=limit)


@method("cases.seen", "number")
def cases_seen(call: Call, params: Params) -> dict[str, Any]:
    """Record that the caller has read the case (stops its read deadline and any unread-report page)."""
    from stopit_mail.cases.escalation_unread import mark_seen

    with call.case(params.text("number", required=True)) as (session, case, actor):
        first = mark_seen(session, call.settings, case, actor.name, datetime.now(UTC), via="cases seen")
        return {"case": case.number, "first": bool(first), "by": actor.name}
