"""No report left unread: every case must be opened by a person before its read deadline.

This is the safety net under any detector. Each case gets a `ReadDeadline` from its urgency
and the hour it arrived (`escalation_clock.read_due`, configured per organisation in
`[organisations.escalation.read_deadlines]`). The first time a person opens it (`stopit cases
show`, or `stopit cases seen`) is recorded with who, when and how. A case still unread at its
deadline escalates like a page: an `unread` escalation pages the chain until someone opens
the case or acknowledges, and `stopit status` lists the overdue reports.

Deadlines are created by the worker's tick from the reports stored since the last tick (one
indexed max), so no other part of processing has to know about them; a new report on a case
already read makes it unread again. Cases that existed before this feature were marked seen
by the migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.escalation import UNREAD, acknowledge, open_escalations, organisation_of, start_escalation
from stopit_mail.cases.escalation_clock import read_due, utc
from stopit_mail.config import Settings
from stopit_mail.models import Case, CaseStatus, ReadDeadline, Report

_FINISHED = (CaseStatus.RESOLVED, CaseStatus.CLOSED)
BATCH = 500
# Unread reports paged per tick: each page is rendered in the tick's one transaction, so a
# backlog is paged over a few ticks instead of holding the database for seconds.
PAGE_BATCH = 50


def _new_deadline(settings: Settings, case: Case) -> ReadDeadline:
    esc = organisation_of(settings, case).escalation
    # last_report_id stays for `count_new_reports` to set: it is the tick's watermark.
    return ReadDeadline(case_id=case.id, urgency=case.urgency, due_at=read_due(esc, case.urgency, case.opened_at))


def deadline_for(session: Session, settings: Settings, case: Case) -> ReadDeadline:
    """The case's read deadline, created from its urgency and arrival time if it has none yet."""
    row = session.get(ReadDeadline, case.id)
    if row is None:
        row = _new_deadline(settings, case)
        session.add(row)
        session.flush()
    return row


def count_new_reports(session: Session, settings: Settings, limit: int = BATCH) -> int:
    """Give each new report's case a read deadline; returns the reports counted.

    A case's first report creates its deadline. A later report joining a case already read
    makes it unread again, with the new report's own deadline: every *report* must be read,
    not only the first of a case. Report ids only grow, and reports are taken in id order, so
    the ones not yet counted are those above the highest `last_report_id` (one indexed max).
    """
    mark = session.scalar(select(func.max(ReadDeadline.last_report_id))) or 0
    rows = session.execute(select(Report.id, Report.case_id, Report.received_at).where(Report.id > mark)
                           .order_by(Report.id).limit(limit)).all()
    case_ids = sorted({case_id for _r, case_id, _t in rows})
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids)))}
    deadlines = {d.case_id: d for d in session.scalars(select(ReadDeadline).where(ReadDeadline.case_id.in_(case_ids)))}
    for report_id, case_id, received_at in rows:
        case = cases.get(case_id)
        if case is None:
            continue
        row = deadlines.get(case_id)
        if row is None:
            row = deadlines[case_id] = _new_deadline(settings, case)
            session.add(row)
        if row.seen_at is not None and utc(received_at) > utc(row.seen_at):
            esc = organisation_of(settings, case).escalation
            row.seen_at = row.seen_by = row.seen_via = row.escalated_at = None
            row.urgency = case.urgency
            row.due_at = read_due(esc, case.urgency, received_at)
            events.record(session, "read-deadline-reopened", case.id, report_id=report_id,
                          due_at=utc(row.due_at).isoformat(), reason="a new report joined a case already read")
        row.last_report_id = max(row.last_report_id or 0, report_id)
    return len(rows)


def mark_seen(session: Session, settings: Settings, case: Case, by: str, now: datetime, via: str) -> bool:
    """Record that a person opened the case; True the first time.

    Opening the case also acknowledges its unread-report page: the safety net has done its job.
    """
    now = utc(now)
    row = deadline_for(session, settings, case)
    for esc in open_escalations(session, case.id, (UNREAD,)):
        acknowledge(session, esc, by=by, now=now, via=via, settings=settings)
    if row.seen_at is not None:
        return False
    row.seen_at, row.seen_by, row.seen_via = now, by[:200], via[:40]
    late = int((now - utc(row.due_at)).total_seconds())
    events.record(session, "case-seen", case.id, actor=by[:120], automatic=False, via=via,
                  due_at=utc(row.due_at).isoformat(), late_seconds=max(late, 0))
    return True


def escalate_overdue(session: Session, settings: Settings, now: datetime, limit: int = PAGE_BATCH) -> int:
    """Page the chain for every unread case past its deadline (once each); returns how many."""
    now = utc(now)
    count_new_reports(session, settings)
    rows = session.execute(
        select(ReadDeadline, Case).join(Case, Case.id == ReadDeadline.case_id)
        .where(ReadDeadline.seen_at.is_(None), ReadDeadline.escalated_at.is_(None), ReadDeadline.due_at <= now,
               Case.merged_into_id.is_(None), Case.status.not_in(_FINISHED))
        .order_by(ReadDeadline.due_at).limit(limit)).all()
    paged = 0
    for row, case in rows:
        # A case still being paged (its emergency chain or review) needs no second page; it is
        # looked at again once that is acknowledged, if still nobody has opened it.
        if open_escalations(session, case.id):
            continue
        row.escalated_at = now
        late = int((now - utc(row.due_at)).total_seconds())
        events.record(session, "read-deadline-passed", case.id, urgency=row.urgency,
                      due_at=utc(row.due_at).isoformat(), late_seconds=late)
        start_escalation(session, settings, case, now, kind=UNREAD)
        paged += 1
    return paged


def overdue_reports(session: Session, now: datetime, organisations: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Unread open cases past their deadline, most overdue first (for `stopit status`)."""
    now = utc(now)
    query = (select(ReadDeadline, Case.number, Case.organisation, Case.urgency)
             .join(Case, Case.id == ReadDeadline.case_id)
             .where(ReadDeadline.seen_at.is_(None), Case.merged_into_id.is_(None), Case.status.not_in(_FINISHED),
                    # Paged by a worker counts too, whatever this process's clock says.
                    (ReadDeadline.due_at <= now) | ReadDeadline.escalated_at.is_not(None)))
    if organisations:
        query = query.where(Case.organisation.in_(sorted(organisations)))
    return [{"case": number, "organisation": org, "urgency": urgency, "due_at": utc(row.due_at).isoformat(),
             "overdue_seconds": max(int((now - utc(row.due_at)).total_seconds()), 0),
             "paged": row.escalated_at is not None}
            for row, number, org, urgency in session.execute(query.order_by(ReadDeadline.due_at))]
