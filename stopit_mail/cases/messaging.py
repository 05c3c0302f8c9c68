"""Two-way messaging with the reporter through the case alias.

Staff write with `stopit reply CASE`; the reporter receives it from `stopit+<code>@domain`,
never from a staff member's own address, and an anonymous reporter's address is named only
in the envelope, unsealed at delivery. Their answers arrive at the alias and join the case.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from stopit_mail.cases.acknowledgement import localised
from stopit_mail.cases.codes import case_alias
from stopit_mail.cases.notices import NoticeError, organisation_of, template_dirs
from stopit_mail.cases.staff import Actor
from stopit_mail.config import Settings
from stopit_mail.models import Case, OutboxMessage, Report
from stopit_mail.outbound.compose import Draft
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.outbound.render import make_environment, render
from stopit_mail.sealing import sealed_recipient, unseal


def _recipient(settings: Settings, report: Report) -> str:
    if report.sealed_identity:
        # Re-seal for the outbox so the address never sits there in clear.
        return sealed_recipient(settings, unseal(settings, report.sealed_identity).address)
    if not report.reporter_address:
        raise NoticeError(f"report {report.id} has no reporter address to write to")
    return report.reporter_address


def reply_to_reporter(session: Session, settings: Settings, actor: Actor, case: Case, message: str,
                      report_id: int | None = None) -> OutboxMessage:
    """Queue a staff message to the reporter of a report (default: the first report)."""
    actor.check_case(case)
    if not message.strip():
        raise NoticeError("the message is empty")
    reports = [r for r in case.reports if report_id is None or r.id == report_id]
    if not reports:
        raise NoticeError(f"case {case.number} has no report {report_id}")
    report = reports[0]
    org = organisation_of(settings, case)
    alias = case_alias(case.reporter_code, org.mailboxes[0])
    env = make_environment(template_dirs(settings, org))
    rendered = render(env, localised(env, "reporter/staff-reply.txt.j2", case.language or ""),
                      organisation=org.name, case_number=case.number, message=message.strip(),
                      emergency_numbers=org.emergency_numbers)
    draft = Draft(from_address=alias, from_name=f"{org.name} stopit", to=[_recipient(settings, report)],
                  subject=rendered.subject, body=rendered.body, reply_to=alias, automatic=False)
    count = session.query(OutboxMessage.id).filter(OutboxMessage.case_id == case.id,
                                                   OutboxMessage.kind == "staff-reply").count()
    return enqueue(session, draft, "staff-reply", f"staff-reply:{case.id}:{count + 1}", case.id,
                   envelope_from=alias, actor=actor.name, report_id=report.id, text=message.strip()[:2000])
