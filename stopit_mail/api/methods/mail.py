"""Methods that send or unseal: notices, referrals, replies, reveals, and stopping the paging.

Previews are separate methods so a client can show exactly what will go out before it asks the
person to confirm; the sending method renders again inside its own transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stopit_mail.api.registry import ApiError, Call, Params, method
from stopit_mail.errors import StopitError


def _template(params: Params) -> str:
    from stopit_mail.cases.notices import NOTICE_TEMPLATES

    template = params.text("template", "please-stop")
    if template not in NOTICE_TEMPLATES:
        raise ApiError("bad-request", f"params.template: found {template!r}, expected one of "
                                      f"{', '.join(sorted(NOTICE_TEMPLATES))}")
    return str(template)


@method("notice.preview", "number", "template", "to")
def notice_preview(call: Call, params: Params) -> dict[str, Any]:
    """Exactly what `notice.send` would send (nothing is queued)."""
    from stopit_mail.cases.notices import prepare_notice

    with call.case(params.text("number", required=True)) as (_session, case, _actor):
        prepared = prepare_notice(call.settings, case, _template(params), params.text("to"))
        return {"case": case.number, "template": prepared.template, "recipient": prepared.recipient,
                "message": prepared.preview()}


@method("notice.send", "number", "template", "to")
def notice_send(call: Call, params: Params) -> dict[str, Any]:
    """Queue a please-stop (or firmer) notice to the alleged sender through the outbox."""
    from stopit_mail.cases.notices import prepare_notice, send_notice

    template = _template(params)
    with call.case(params.text("number", required=True)) as (session, case, actor):
        prepared = prepare_notice(call.settings, case, template, params.text("to"))
        row = send_notice(session, call.settings, actor, case, template, params.text("to"))
        session.flush()
        return {"case": case.number, "template": template, "recipient": prepared.recipient, "outbox": row.id}


@method("refer.preview", "number", "office", "with_identity", "note", "update")
def refer_preview(call: Call, params: Params) -> dict[str, Any]:
    """Exactly what `cases.refer` would send to the office (nothing is queued)."""
    from stopit_mail.cases.referrals import preview_referral

    office = params.text("office", required=True)
    with call.case(params.text("number", required=True)) as (session, case, actor):
        prepared = preview_referral(session, call.settings, actor, case, office, params.flag("with_identity"),
                                    params.text("note", ""), params.flag("update"))
        return {"case": case.number, "office": office, "recipient": prepared.recipient,
                "message": prepared.preview()}


@method("cases.refer", "number", "office", "with_identity", "note", "update")
def cases_refer(call: Call, params: Params) -> dict[str, Any]:
    """Queue a referral with the report's words and the evidence to one of the organisation's offices.

    A second referral to the same office is a new, UPDATED message (with identity after consent, or
    with `update`), never the old one re-queued.
    """
    from stopit_mail.cases.referrals import refer_case

    office = params.text("office", required=True)
    with call.case(params.text("number", required=True)) as (session, case, actor):
        done = refer_case(session, call.settings, actor, case, office, params.flag("with_identity"),
                          params.text("note", ""), params.flag("update"))
        session.flush()
        return {**done, "outbox": done["outbox_id"], "recipient": ", ".join(map(str, done["recipients"]))}  # type: ignore[call-overload]


@method("reply", "number", "message", "report")
def reply(call: Call, params: Params) -> dict[str, Any]:
    """Write to the reporter through the case alias (or the web check-back page)."""
    from stopit_mail.cases.messaging import reply_to_reporter

    text = params.text("message", required=True)
    with call.case(params.text("number", required=True)) as (session, case, actor):
        row = reply_to_reporter(session, call.settings, actor, case, text, params.integer("report"))
        session.flush()
        web = row is None or row.kind == "web-new-message"
        return {"case": case.number, "via": "web" if web else "mail", "outbox": row.id if row else None}


@method("reveal.case", "number", "reason")
def reveal_case(call: Call, params: Params) -> dict[str, Any]:
    """Reveal the anonymous reporters of a case, or file a request where approval is configured."""
    from stopit_mail.cases.anonymity import reveal
    from stopit_mail.cases.approvals import approval_required, request_reveal, usable_request

    reason = params.text("reason", required=True)
    with call.case(params.text("number", required=True)) as (session, case, actor):
        if approval_required(call.settings, case) and usable_request(session, actor, case) is None:
            request = request_reveal(session, call.settings, actor, case, reason)
            session.flush()
            return {"case": case.number, "state": "requested", "request": request.id, "identities": []}
        identities = reveal(session, call.settings, actor, case, reason)
        return {"case": case.number, "state": "revealed", "request": None,
                "identities": [{"name": i.name, "address": i.address} for i in identities]}


def _decide(call: Call, params: Params, approve: bool) -> dict[str, Any]:
    from stopit_mail.cases.approvals import decide

    request_id, reason = params.integer("request", required=True), params.text("reason", required=True)
    with call.session() as session:
        request = decide(session, call.settings, call.actor, request_id, reason, approve)
        return {"request": request_id, "state": request.status, "requested_by": request.requested_by,
                "decided_by": request.decided_by,
                "expires_at": request.expires_at.isoformat() if request.expires_at else None}


@method("reveal.approve", "request", "reason")
def reveal_approve(call: Call, params: Params) -> dict[str, Any]:
    """Approve another staff member's reveal request (approver role)."""
    return _decide(call, params, True)


@method("reveal.deny", "request", "reason")
def reveal_deny(call: Call, params: Params) -> dict[str, Any]:
    """Deny a reveal request (approver role)."""
    return _decide(call, params, False)


@method("reveal.requests")
def reveal_requests(call: Call, params: Params) -> list[dict[str, Any]]:
    """Reveal requests on the caller's organisations' cases, with their state."""
    from stopit_mail.cases.approvals import list_requests

    with call.session() as session:
        return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
                for row in list_requests(session, call.actor)]


@method("ack", "number", "code")
def ack(call: Call, params: Params) -> dict[str, Any]:
    """Acknowledge the case's emergency: stop paging its escalation chain."""
    from stopit_mail.cases.codes import normalise_code
    from stopit_mail.cases.escalation import REVIEW, acknowledge, open_escalations

    code = params.text("code")
    with call.case(params.text("number", required=True)) as (session, case, actor):
        escalations = open_escalations(session, case.id)
        if not escalations:
            raise StopitError(f"{case.number} has no open escalation: nothing is being paged")
        # A review is answered, not acknowledged: silencing it must leave a decision behind.
        escalations = [e for e in escalations if e.kind != REVIEW]
        if not escalations:
            raise StopitError(f"{case.number} is a possible emergency under review: run `stopit confirm` or "
                              f"`stopit dismiss` with --reason")
        if code is not None:
            escalations = [e for e in escalations if e.ack_code == normalise_code(code)]
            if not escalations:
                raise StopitError(f"code {code!r} is not the acknowledgement code of {case.number}'s open escalation")
        done = []
        for esc in escalations:
            done += acknowledge(session, esc, by=actor.name, now=datetime.now(UTC), via="command",
                                settings=call.settings)
        return {"case": case.number, "by": actor.name, "acknowledged": [
            {"escalation": e.id, "pages": e.step + 1 if e.steps else 0} for e in done]}


def _review(call: Call, params: Params, decision: str) -> dict[str, Any]:
    from stopit_mail.cases.escalation_review import decide as decide_review
    from stopit_mail.cases.escalation_unread import mark_seen

    reason = params.text("reason", required=True)
    with call.case(params.text("number", required=True)) as (session, case, actor):
        now = datetime.now(UTC)
        decide_review(session, call.settings, case, decision, by=actor.name, reason=reason, now=now, via="command")
        # Deciding from the command line means the case was in front of a person.
        mark_seen(session, call.settings, case, actor.name, now, via=f"{decision[:-2]} command")
        return {"case": case.number, "decision": decision, "by": actor.name, "urgency": case.urgency}


@method("escalations.confirm", "number", "reason")
def escalations_confirm(call: Call, params: Params) -> dict[str, Any]:
    """Confirm a possible emergency: page the escalation chain now."""
    from stopit_mail.cases.escalation_review import CONFIRMED

    return _review(call, params, CONFIRMED)


@method("escalations.dismiss", "number", "reason")
def escalations_dismiss(call: Call, params: Params) -> dict[str, Any]:
    """Dismiss a possible emergency: stop paging; the case stays urgent."""
    from stopit_mail.cases.escalation_review import DISMISSED

    return _review(call, params, DISMISSED)
