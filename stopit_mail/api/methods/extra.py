"""Less frequent staff actions: abuse reports, reviewed triage examples, retrying quarantine.

Kept apart from the casework methods so a command that changes a case imports no detector or
processing code.
"""

from __future__ import annotations

from typing import Any

from stopit_mail.api.registry import ApiError, Call, Params, method


@method("abuse.preview", "number", "to", "format")
def abuse_preview(call: Call, params: Params) -> dict[str, Any]:
    """Exactly the ARF (or X-ARF) report `cases.report_abuse` would send (nothing is queued)."""
    from stopit_mail.cases.abuse import prepare_abuse_report

    with call.case(params.text("number", required=True)) as (_session, case, _actor):
        prepared = prepare_abuse_report(call.settings, case, params.text("to"), params.text("format", "arf"))
        return {"case": case.number, "recipient": prepared.recipient, "message": prepared.preview()}


@method("cases.report_abuse", "number", "to", "format")
def cases_report_abuse(call: Call, params: Params) -> dict[str, Any]:
    """Queue an abuse report on the case's traced evidence to the origin provider's desk."""
    from stopit_mail.cases.abuse import prepare_abuse_report, send_abuse_report

    fmt = params.text("format", "arf")
    with call.case(params.text("number", required=True)) as (session, case, actor):
        prepared = prepare_abuse_report(call.settings, case, params.text("to"), fmt)
        row = send_abuse_report(session, call.settings, actor, case, params.text("to"), fmt)
        session.flush()
        return {"case": case.number, "format": fmt, "recipient": prepared.recipient, "outbox": row.id}


@method("triage.examples.list", "organisation")
def examples_list(call: Call, params: Params) -> list[dict[str, Any]]:
    """The organisation examples the caller may see, oldest first."""
    from stopit_mail.cases import triage_examples

    viewer = call.actor
    with call.session() as session:
        return triage_examples.as_rows(triage_examples.list_examples(session, viewer, params.text("organisation")))


@method("triage.examples.add", "sentence", "from_case", "label", "category", "organisation", "language", "reason")
def examples_add(call: Call, params: Params) -> dict[str, Any]:
    """Add a reviewed example: a sentence, or the one that raised `from_case`."""
    from stopit_mail.cases import triage_examples
    from stopit_mail.cases.queries import get_case

    sentence, from_case = params.text("sentence"), params.text("from_case")
    if bool(sentence) == bool(from_case):
        raise ApiError("bad-request", "give either sentence or from_case")
    actor = call.actor
    with call.session() as session:
        case = get_case(session, from_case) if from_case else None
        if case is not None:
            actor.check_case(case)
            sentence = triage_examples.triggering_sentence(case)
        org = params.text("organisation") or (case.organisation if case is not None else _only_organisation(call))
        example = triage_examples.add_example(
            session, actor, org, params.text("label", required=True), params.text("category", required=True),
            sentence or "", language=params.text("language"), case=case, reason=params.text("reason", ""))
        session.flush()
        return triage_examples.as_rows([example])[0]


def _only_organisation(call: Call) -> str:
    organisations = call.settings.organisations
    if len(organisations) != 1:
        raise ApiError("bad-request", "several organisations are configured: say which with organisation")
    return str(organisations[0].slug)


@method("triage.examples.remove", "id", "reason")
def examples_remove(call: Call, params: Params) -> dict[str, Any]:
    """Remove an organisation example (the audit log keeps that it existed)."""
    from stopit_mail.cases import triage_examples

    actor = call.actor
    with call.session() as session:
        example = triage_examples.remove_example(session, actor, params.integer("id", required=True),
                                                 params.text("reason", ""))
        return {"id": example.id, "organisation": example.organisation, "sentence": example.sentence}


@method("quarantine.retry", "message")
def quarantine_retry(call: Call, params: Params) -> dict[str, Any]:
    """Process a quarantined message again, after a fix or a configuration change (admin role)."""
    from stopit_mail.cases import queries
    from stopit_mail.cases.quarantine_view import visible_message
    from stopit_mail.processing.runner import process_message

    actor = call.admin()
    message_id = params.integer("message", required=True)
    with call.session() as session:
        visible_message(session, call.settings, actor, message_id)  # an admin of one organisation: theirs only
        queries.requeue(session, message_id)
    outcome = process_message(call.app.factory, call.settings, message_id)
    return {"message": message_id, "status": outcome.status, "case": outcome.case_number, "reason": outcome.reason}
