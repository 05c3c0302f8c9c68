"""Read-only views of cases for staff: listings, one case in full, the quarantine.

They return plain dictionaries so the CLI can print a table or JSON from the same data,
and so nothing here can change a case by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, func, literal_column, or_, select, text, true
from sqlalchemy.orm import Session

from stopit_mail.cases.codes import format_code
from stopit_mail.cases.sender_index import senders_matching
from stopit_mail.cases.staff import Actor
from stopit_mail.errors import NotFound
from stopit_mail.headers.stored import expand
from stopit_mail.models import (
    Case,
    CaseAlias,
    CaseCounter,
    CaseStatus,
    Event,
    Evidence,
    Party,
    RawMessage,
    RawStatus,
    Report,
    StatTally,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def visible_to(actor: Actor | None, organisation: Any = Case.organisation) -> ColumnElement[bool]:
    """A WHERE clause keeping the cases `actor` may see (all of them for None or an unrestricted actor).

    `organisation` is the column to filter on (another table's, such as the stats rollup's).
    """
    if actor is None or not actor.restricted or not actor.organisations:
        return true()
    return organisation.in_(sorted(actor.organisations))


@dataclass(frozen=True)
class CaseFilter:
    """What `cases list` narrows by; every field optional."""

    status: str | None = None
    since: datetime | None = None
    text: str | None = None
    urgency: str | None = None
    category: str | None = None
    assignee: str | None = None
    organisation: str | None = None
    offender: str | None = None


def _filtered(session: Session, query: Select[Any], where: CaseFilter, actor: Actor | None) -> Select[Any]:
    query = query.where(visible_to(actor))
    if where.status:
        query = query.where(Case.status == CaseStatus(where.status))
    if where.since:
        query = query.where(Case.opened_at >= where.since)
    if where.urgency:
        query = query.where(Case.urgency == where.urgency)
    if where.category:
        # Categories are a JSON list; its text holds each one quoted.
        query = query.where(cast(Case.categories, String).like(f'%"{where.category}"%'))
    if where.assignee:
        query = query.where(Case.assigned_to.in_(_spellings(session, where.assignee)))
    if where.organisation:
        query = query.where(Case.organisation == where.organisation)
    if where.offender:
        query = query.where(Case.id.in_(select(Party.case_id).where(senders_matching(session, where.offender))))
    if where.text:
        like = f"%{where.text.lower()}%"
        matching_evidence = select(Evidence.case_id).where(or_(
            func.lower(Evidence.orig_subject).like(like), func.lower(Evidence.orig_from_address).like(like),
            func.lower(Evidence.orig_from_name).like(like)))
        query = query.where(or_(func.lower(Case.title).like(like), func.lower(Case.number).like(like),
                                Case.id.in_(matching_evidence)))
    return query


# Each distinct assignee, found by one seek on the index on `assigned_to` (a few staff names
# among a million cases), instead of lower-casing every case's assignee.
_ASSIGNEES = text(
    "WITH RECURSIVE names(name) AS (SELECT min(assigned_to) FROM cases UNION ALL "
    "SELECT (SELECT min(assigned_to) FROM cases WHERE assigned_to > names.name) FROM names "
    "WHERE names.name IS NOT NULL) SELECT name FROM names WHERE name IS NOT NULL")


def _spellings(session: Session, assignee: str) -> list[str]:
    """The stored names equal to `assignee` ignoring case (what `--assignee nora` means)."""
    return [name for name in session.scalars(_ASSIGNEES) if name.lower() == assignee.lower()]


def count_cases(session: Session, where: CaseFilter = CaseFilter(), actor: Actor | None = None) -> int:
    """How many cases the filter matches: the N of "showing 50 of N".

    Exact either way; filtered by nothing but organisation, urgency and category, it is summed
    from the stats rollup (a few rows per month) instead of counting a million index entries
    (or reading every case's categories).
    """
    if where == CaseFilter(organisation=where.organisation, urgency=where.urgency, category=where.category):
        tallies = select(func.sum(StatTally.tally)).where(
            StatTally.kind.in_(("case", "merged")), visible_to(actor, StatTally.organisation))
        if where.organisation:
            tallies = tallies.where(StatTally.organisation == where.organisation)
        if where.urgency:
            tallies = tallies.where(StatTally.urgency == where.urgency)
        if where.category:
            # The rollup keeps each case's categories as the same JSON text the case filter reads.
            tallies = tallies.where(StatTally.categories.like(f'%"{where.category}"%'))
        return int(session.scalar(tallies) or 0)
    return session.scalar(_filtered(session, select(func.count(Case.id)), where, actor)) or 0


# Up to this many matching cases, a page is read through the filter's own index and sorted,
# instead of walking every case newest first until a page matches: `--since 1h` at a million
# cases walked all of them to find the few that matched.
FEW_MATCHES = 20_000


def list_cases(
    session: Session, where: CaseFilter = CaseFilter(), actor: Actor | None = None, limit: int = 50, offset: int = 0,
    total: int | None = None,
) -> list[dict[str, Any]]:
    """One page of cases, newest first, filtered by `where` and to `actor`'s organisations.

    `total`, when known (`count_cases`), says whether the matches are few enough to sort.
    """
    # The unary plus keeps the id out of the index choice (SQLite and PostgreSQL alike), so the
    # planner reads the filter's index instead of the cases in id order.
    few = total is not None and total <= FEW_MATCHES and where != CaseFilter()
    newest = literal_column(f"+{Case.__tablename__}.id") if few else Case.id
    query = _filtered(session, select(Case), where, actor).order_by(newest.desc()).limit(limit).offset(offset)
    page = list(session.scalars(query))
    ids = [case.id for case in page]
    # Counted and named per page in three small queries: loading the reports and evidence
    # themselves would read every report's and message's text just to count them.
    senders: dict[int, set[str]] = {}
    for case_id, address, name in session.execute(select(Party.case_id, Party.address, Party.display_name).where(
            Party.case_id.in_(ids), Party.role == "alleged-sender")):
        senders.setdefault(case_id, set()).add(address or name)
    reports = _counts(session, Report.case_id, ids)
    evidence = _counts(session, Evidence.case_id, ids)
    return [{
        "number": case.number, "status": case.status.value, "urgency": case.urgency,
        "organisation": case.organisation, "title": case.title, "opened_at": _iso(case.opened_at),
        "reports": reports.get(case.id, 0), "evidence": evidence.get(case.id, 0),
        "alleged_senders": sorted(senders.get(case.id, ())),
        "categories": list(case.categories or []), "assigned_to": case.assigned_to,
    } for case in page]


def _counts(session: Session, column: Any, ids: list[int]) -> dict[int, int]:
    """How many rows per case id (through the index on `column`)."""
    return {case_id: n for case_id, n in session.execute(
        select(column, func.count()).where(column.in_(ids)).group_by(column))}


def get_case(session: Session, number: str) -> Case:
    """A case by its number, case-insensitive, or by its tail ("42", "2026-0042"); else NotFound.

    Staff type what they read on a page or heard on the phone. A tail that fits several
    cases (SI-2025-0042 and SI-2026-0042) is refused with the candidates, never guessed.
    """
    wanted = number.strip().upper()
    # Numbers are stored upper-case, so this is an index lookup even at a million cases.
    case = session.scalar(select(Case).where(Case.number == wanted))
    if case is not None:
        return case
    tail = _number_tail(wanted)
    if tail is None:
        raise NotFound(f"no case {number!r}")
    matches = _by_tail(session, tail)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"no case {number!r}")
    raise NotFound(f"{number!r} could be {', '.join(c.number for c in matches[:5])}: give the whole number")


def _by_tail(session: Session, tail: str) -> list[Case]:
    """Cases whose number ends with `tail`, newest first (at most 6).

    Numbers are PREFIX-YEAR-SERIAL, handed out from `case_counters`: the whole numbers a tail
    can stand for are looked up by the unique index. Only when none exists (numbers made
    elsewhere, e.g. imported) are all numbers scanned.
    """
    year, _, serial = tail.rpartition("-")
    counters = select(CaseCounter.prefix, CaseCounter.year).where(CaseCounter.last >= int(serial))
    if year:
        counters = counters.where(CaseCounter.year == int(year))
    candidates = [f"{prefix}-{year_}-{serial}" for prefix, year_ in session.execute(counters)]
    newest = select(Case).order_by(Case.id.desc()).limit(6)
    matches = list(session.scalars(newest.where(Case.number.in_(candidates)))) if candidates else []
    return matches or list(session.scalars(newest.where(Case.number.like(f"%-{tail}"))))


def _number_tail(text: str) -> str | None:
    """'42' -> '0042', '2026-42' -> '2026-0042'; None when it is not a number's tail."""
    year, _, serial = text.rpartition("-")
    if not serial.isdigit() or (year and not (year.isdigit() and len(year) == 4)):
        return None
    padded = f"{int(serial):04d}"
    return f"{year}-{padded}" if year else padded


def _evidence_dict(item: Evidence) -> dict[str, Any]:
    return {
        "id": item.id, "report_id": item.report_id, "kind": item.kind,
        "completeness": item.completeness.value, "mime_path": item.mime_path,
        "content_type": item.content_type, "filename": item.filename, "size": item.size,
        "sha256": item.sha256, "from": {"name": item.orig_from_name, "address": item.orig_from_address},
        "to": item.orig_to, "cc": item.orig_cc, "date": item.orig_date, "subject": item.orig_subject,
        "message_id": item.orig_message_id, "problems": item.problems, "analysis": expand(item.analysis),
        "text": item.body_text,
    }


def case_detail(session: Session, number: str, actor: Actor | None = None) -> dict[str, Any]:
    """Everything staff see about one case: reports, evidence, parties, timeline.

    With `actor`, a case of another organisation raises PermissionDenied.
    """
    case = get_case(session, number)
    if actor is not None:
        actor.check_case(case)
    # Each report's own code (its alias): staff quote it to the reporter, never to anyone else.
    codes = {report_id: code for report_id, code in session.execute(select(CaseAlias.report_id, CaseAlias.code).where(
        CaseAlias.case_id == case.id, CaseAlias.report_id.is_not(None)))}
    reports = [{
        "id": r.id, "raw_message_id": r.raw_message_id, "received_at": _iso(r.received_at),
        "reporter": {"name": r.reporter_name, "address": r.reporter_address}, "subject": r.subject,
        "wrapper_text": r.wrapper_text, "anonymous": r.sealed_identity is not None,
        "sender_role": r.sender_role, "code": codes.get(r.id, ""),
    } for r in case.reports]
    parties = [{"role": p.role, "address": p.address, "name": p.display_name, "domain": p.domain}
               for p in case.parties]
    timeline = [{"at": _iso(e.at), "actor": e.actor, "action": e.action, "detail": e.detail}
                for e in session.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.id))]
    # Messages filed on the case that are not its reports: replies, bounces (index on case_id).
    report_raw_ids = {r.raw_message_id for r in case.reports}
    replies = [raw_id for raw_id in session.scalars(select(RawMessage.id).where(RawMessage.case_id == case.id))
               if raw_id not in report_raw_ids]
    merged_into = None
    if case.merged_into_id is not None:
        merged_into = session.scalar(select(Case.number).where(Case.id == case.merged_into_id))
    return {
        "number": case.number, "status": case.status.value, "urgency": case.urgency,
        "categories": case.categories, "triage": case.triage, "organisation": case.organisation, "title": case.title,
        "anonymous": case.anonymous, "reporter_code": format_code(case.reporter_code), "language": case.language,
        "outcome": case.outcome,
        "assigned_to": case.assigned_to, "resolution": case.resolution,
        "opened_at": _iso(case.opened_at), "updated_at": _iso(case.updated_at),
        "closed_at": _iso(case.closed_at), "merged_into": merged_into,
        "reports": reports, "evidence": [_evidence_dict(e) for e in case.evidence],
        "parties": parties, "timeline": timeline, "other_messages": list(replies),
    }


def requeue(session: Session, raw_id: int) -> None:
    """Put a quarantined message back in the queue (after a fix or a configuration change)."""
    raw = session.get(RawMessage, raw_id)
    if raw is None:
        raise NotFound(f"no stored message {raw_id}")
    if raw.status is not RawStatus.QUARANTINED:
        raise NotFound(f"message {raw_id} is {raw.status.value}, not quarantined")
    raw.status = RawStatus.RECEIVED
    # A fresh start: attempts are counted before each try, and the limit would refuse it at once.
    raw.attempts = 0
    raw.claimed_until = None


