"""No report left unread: every case must be opened by a person before its read deadline.

This is the safety net under any detector. Each case gets a `ReadDeadline` from its urgency
and the hour it arrived (`escalation_clock.read_due`, configured per organisation in
`[organisations.escalation.read_deadlines]`). The first time a person opens it (`stopit cases
show`, or `stopit cases seen`) is recorded with who, when and how. A case still unread at its
deadline escalates like a page: an `unread` escalation pages the chain until someone opens
the case or acknowledges, and `stopit status` lists the overdue reports.

Deadlines are created lazily by the worker's tick (one indexed anti-join), so no other part
of processing has to know about them; cases that existed before this feature were marked
seen by the migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.escalation import UNREAD, acknowledge, open_escalations, organisation_of, start_escalation
from stopit_mail.cases.escalation_clock import read_due, utc
from stopit_mail.config import Settings
from stopit_mail.models import Case, CaseStatus, ReadDeadline

_FINISHED = (CaseStatus.RESOLVED, CaseStatus.CLOSED)
BATCH = 500


def deadline_for(session: Session, settings: Settings, case: Case) -> ReadDeadline:
    """The case's read deadline, created from its urgency and arrival time if it has none yet."""
    row = session.get(ReadDeadline, case.id)
    if row is None:
        esc = organisation_of(settings, case).escalation
        row = ReadDeadline(case_id=case.id, urgency=case.urgency, due_at=read_due(esc, case.urgency, case.opened_at))
        session.add(row)
        session.flush()
    return row


def add_missing_deadlines(session: Session, settings: Settings, limit: int = BATCH) -> int:
    """Give every open case without a read deadline its deadline; returns how many were added."""
    cases = session.scalars(
        select(Case).outerjoin(ReadDeadline, ReadDeadline.case_id == Case.id)
        .where(ReadDeadline.case_id.is_(None), Case.merged_into_id.is_(None))
        .order_by(Case.id).limit(limit)).all()
    for case in cases:
        deadline_for(session, settings, case)
    return len(cases)


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


def escalate_overdue(session: Session, settings: Settings, now: datetime, limit: int = BATCH) -> int:
    """Page the chain for every unread case past its deadline (once each); returns how many."""
    now = utc(now)
    add_missing_deadlines(session, settings)
    rows = session.execute(
        select(ReadDeadline, Case).join(Case, Case.id == ReadDeadline.case_id)
        .where(ReadDeadline.seen_at.is_(None), ReadDeadline.escalated_at.is_(None), ReadDeadline.due_at <= now,
               Case.merged_into_id.is_(None), Case.status.not_in(_FINISHED))
        .order_by(ReadDeadline.due_at).limit(limit)).all()
    for row, case in rows:
        row.escalated_at = now
        late = int((now - utc(row.due_at)).total_seconds())
        events.record(session, "read-deadline-passed", case.id, urgency=row.urgency,
                      due_at=utc(row.due_at).isoformat(), late_seconds=late)
        # A case whose emergency chain is still open is already paging: nothing more to add.
        start_escalation(session, settings, case, now, kind=UNREAD)
    return len(rows)


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
