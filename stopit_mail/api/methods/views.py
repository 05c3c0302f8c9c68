"""Reports: whoami, status, stats, audit, escalations, quarantine, offenders, retention.

Scoped like everything else: a member limited to some organisations sees their figures, their
escalations and their audit events; installation-wide figures need no case access.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from stopit_mail.api.methods.cases import since_param
from stopit_mail.api.registry import ApiError, Call, Params, method
from stopit_mail.cases.staff import Actor

# Services are imported in the methods that use them: a method pays only for its own (a staff
# command starts in well under 300 ms; tests/test_startup.py checks what each one loads).


@method("whoami")
def whoami(call: Call, params: Params) -> dict[str, Any]:
    """Who the service says the caller is: Unix account, staff member, roles, organisations."""
    actor = call.scope()  # the service account with nobody named is still someone: itself
    return {"unix_user": call.caller.user, "uid": call.caller.uid, "service_account": call.caller.service,
            "staff": actor.name if actor else None, "roles": sorted(actor.roles) if actor else [],
            "organisations": sorted(actor.organisations) if actor else [],
            "restricted": actor.restricted if actor else False}


@method("status")
def status(call: Call, params: Params) -> dict[str, Any]:
    """Queue depths, outbox backlog, escalations, unread reports, worker health, key and model."""
    from stopit_mail.cases.detect import bank_state
    from stopit_mail.cases.detect.model import model_status
    from stopit_mail.cases.escalation_list import escalation_summary
    from stopit_mail.cases.escalation_unread import overdue_reports
    from stopit_mail.processing import watchdog
    from stopit_mail.queues import queue_status

    call.scope()  # only staff (or the service account) see the installation's health
    now = datetime.now(UTC)
    with call.session() as session:
        report = queue_status(session)
        report["escalations"] = escalation_summary(session, now)
        report["overdue_reports"] = overdue_reports(session, now)
        health = watchdog.check(session, watchdog.grace_for(call.settings))
    report["worker"] = {"ok": health.ok, "running": health.workers, "problems": health.problems}
    key = call.app.key_status
    report["identity_key"] = {"key_id": key.key_id, "can_seal": key.can_seal, "can_reveal": key.can_reveal,
                              "problems": key.problems, "summary": key.summary()} if key else None
    report["triage_model"] = model_status().to_dict()
    # The worker's view of its bank (written by the worker, which may be another process).
    report["triage_bank"] = bank_state.read(call.settings.data_path / bank_state.CACHE_FOLDER)
    return report


@method("stats", "organisation", "since")
def stats(call: Call, params: Params) -> dict[str, Any]:
    """Cases by category and urgency, response times, notices, the stop rate, by month."""
    from stopit_mail.cases.stats import compute_stats

    organisation = params.text("organisation")
    if organisation and call.settings.organisation(organisation) is None:
        known = ", ".join(o.slug for o in call.settings.organisations)
        raise ApiError("bad-request", f"no organisation {organisation!r} (known: {known})")
    viewer = call.actor
    with call.session() as session:
        return compute_stats(session, viewer, organisation, since_param(params),
                             stop_window_days=call.settings.casework.stop_window_days)


@method("audit", "number", "actor", "since", "limit")
def audit(call: Call, params: Params) -> list[dict[str, Any]]:
    """The audit log, oldest first (one case with `number`)."""
    from stopit_mail.cases.audit import audit_log
    from stopit_mail.cases.queries import get_case

    viewer, number = call.actor, params.text("number")
    with call.session() as session:
        case = get_case(session, number) if number else None
        return audit_log(session, viewer, case=case, by=params.text("actor"), since=since_param(params),
                         limit=params.integer("limit", low=1))


@method("escalations.list", "all")
def escalations_list(call: Call, params: Params) -> list[dict[str, Any]]:
    """Open escalations with their clocks (impossible ones first); acknowledged ones too with `all`."""
    from stopit_mail.cases.escalation_list import escalation_rows

    actor = call.scope()
    scope = actor.organisations if actor is not None and actor.restricted else frozenset()
    with call.session() as session:
        return escalation_rows(session, datetime.now(UTC), include_acknowledged=params.flag("all"),
                               organisations=scope)


def _quarantine_reader(call: Call) -> Actor:
    """Who reads the quarantine: the named staff member, or the service account (sees everything)."""
    actor = call.scope()
    return actor if actor is not None else Actor(call.caller.user or "stopit", restricted=False)


@method("quarantine.list", "limit")
def quarantine_rows(call: Call, params: Params) -> dict[str, Any]:
    """Messages set aside for a person in the caller's organisations, possible emergencies first.

    `{"total": n, "messages": [...]}`; anonymous senders and their words stay sealed.
    """
    from stopit_mail.cases.quarantine_view import list_quarantine

    actor = _quarantine_reader(call)
    limit = params.integer("limit", None, low=0)
    with call.session() as session:
        return list_quarantine(session, call.settings, actor, limit)


@method("quarantine.show", "message", "reason")
def quarantine_show(call: Call, params: Params) -> dict[str, Any]:
    """One stored message, readable; `reason` unseals through the identity gate (reveal role, audited)."""
    from stopit_mail.cases.quarantine_view import show_message

    reason = params.text("reason")
    actor = call.actor if reason else _quarantine_reader(call)  # unsealing needs a named staff member
    with call.session() as session:
        return show_message(session, call.settings, actor, params.integer("message", required=True), reason)


@method("offenders.list", "min_cases", "limit")
def offenders_list(call: Call, params: Params) -> list[dict[str, Any]]:
    """Alleged senders named in the most cases the caller may see."""
    from stopit_mail.cases.offenders import list_offenders

    viewer = call.actor
    with call.session() as session:
        return list_offenders(session, viewer, params.integer("min_cases", 2, low=1),
                              params.integer("limit", 50, low=1, high=1000))


@method("offenders.show", "address")
def offenders_show(call: Call, params: Params) -> dict[str, Any]:
    """One alleged sender's cases, names used, and notices sent to them."""
    from stopit_mail.cases.offenders import offender_history

    viewer = call.actor
    with call.session() as session:
        return offender_history(session, params.text("address", required=True), viewer)


@method("offenders.link", "number", "other", "reason")
def offenders_link(call: Call, params: Params) -> dict[str, Any]:
    """Record that two cases have the same sender."""
    from stopit_mail.cases.offenders import link_cases
    from stopit_mail.cases.queries import get_case

    with call.case(params.text("number", required=True)) as (session, case, actor):
        other = get_case(session, params.text("other", required=True))
        link_cases(session, actor, case, other, params.text("reason", required=True))
        return {"case": case.number, "other": other.number}


@method("retention.plan")
def retention_plan(call: Call, params: Params) -> list[dict[str, Any]]:
    """Closed cases under a retention rule that the caller may see, soonest purge first."""
    from stopit_mail.cases.retention import plan

    viewer = call.actor
    with call.session() as session:
        return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(item).items()}
                for item in plan(session, call.settings, viewer)]


@method("retention.run")
def retention_run(call: Call, params: Params) -> dict[str, Any]:
    """Warn about and purge what is due now (admin role)."""
    from stopit_mail.cases.retention import run_due

    actor = call.admin()
    with call.session() as session:
        result = run_due(session, call.settings, actor=actor.name, scope=actor)
    return {"warned": result.warned, "purged": result.purged}
