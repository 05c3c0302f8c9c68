"""Two-way messaging with a reporter through their own report's alias.

Staff write with `stopit reply CASE [--report N]`; the reporter receives it from
`stopit+<their code>@domain`, never from a staff member's own address and never from another
reporter's alias, and an anonymous reporter's address is named only in the envelope, unsealed
at delivery. Their answers arrive at the alias and join the case on their side. A report whose
sender wrote the evidence (the alleged sender forwarding his own mail) is never the default.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from stopit_mail.cases.acknowledgement import localised
from stopit_mail.cases.aliases import ALLEGED_SENDER, alias_address, reporter_alias
from stopit_mail.cases.notices import NoticeError, organisation_of, template_dirs
from stopit_mail.cases.staff import Actor
from stopit_mail.cases.webdoor import arrived_by_web, post_reply
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
                      report_id: int | None = None) -> OutboxMessage | None:
    """Queue a staff message to the reporter of a report (default: the first report).

    A report made through the web door is answered there (see `webdoor.post_reply`): the
    result is then the content-free notice mailed to a reporter who left an address, or None.
    """
    actor.check_case(case)
    if not message.strip():
        raise NoticeError("the message is empty")
    if report_id is None:
        reports = [r for r in case.reports if r.sender_role != ALLEGED_SENDER]
        if not reports:
            raise NoticeError(f"case {case.number} has no report from a reporter (only from the alleged sender); "
                              "give --report N to write to a particular one")
    else:
        reports = [r for r in case.reports if r.id == report_id]
        if not reports:
            raise NoticeError(f"case {case.number} has no report {report_id}")
    report = reports[0]
    if arrived_by_web(session, report):
        return post_reply(session, settings, actor, case, report, message.strip())
    org = organisation_of(settings, case)
    alias_row = reporter_alias(session, report)
    alias = alias_address(alias_row.code, org.mailboxes[0])
    env = make_environment(template_dirs(settings, org))
    rendered = render(env, localised(env, "reporter/staff-reply.txt.j2", case.language or ""),
                      organisation=org.name, case_number=case.number, message=message.strip(),
                      emergency_numbers=org.emergency_numbers)
    draft = Draft(from_address=alias, from_name=f"{org.name} stopit", to=[_recipient(settings, report)],
                  subject=rendered.subject, body=rendered.body, reply_to=alias, automatic=False)
    count = session.query(OutboxMessage.id).filter(OutboxMessage.case_id == case.id,
                                                   OutboxMessage.kind == "staff-reply").count()
    return enqueue(session, draft, "staff-reply", f"staff-reply:{case.id}:{count + 1}", case.id,
                   envelope_from=alias, actor=actor.name, alias_id=alias_row.id, report_id=report.id,
                   text=message.strip()[:2000])
