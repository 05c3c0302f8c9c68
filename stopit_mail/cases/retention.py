"""Retention with legal hold: closed cases are purged on schedule, after a warning, never when held.

Policy per organisation (`[organisations.retention]`): a closed case is purged `closed_days`
after its last activity (an outcome listed under `outcomes` uses its own period); open cases and
cases on legal hold never are. The clock counts from the last activity (any event, report or
stored message of the case, except retention's own warnings), so evidence arriving late restarts
it, the GlobaLeaks mistake of deleting a day after new evidence. A purge also needs a warning
recorded at least `warning_days` earlier and after that last activity: no case disappears
without notice, however late the policy was switched on.

The purge keeps a stub (number, organisation, status, dates, categories, urgency, outcome) so
statistics survive, and removes everything that could identify anyone: raw bytes, reports,
evidence, sealed identities, parties, aliases, outbox rows and their Maildir copies, escalation
pages, links, reveal requests, and the text of its timeline events (the events stay, empty, as
the record that something happened). Its audit event holds counts only. On SQLite the
full-text index is merged (`optimize`) so deleted rows leave no tokens, `secure_delete` zeroes
freed pages, and the write-ahead log is truncated after the commit; see docs/retention.md.

`run_due(session, settings, now)` is the one entry point for both `stopit retention run` and
the worker's periodic tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.sealed_store import scrub_log_after_commit
from stopit_mail.cases.staff import Actor
from stopit_mail.config import Settings
from stopit_mail.errors import StopitError
from stopit_mail.models import (
    Case,
    CaseAlias,
    CaseStatus,
    Escalation,
    Event,
    Evidence,
    OffenderLink,
    OutboxMessage,
    Page,
    Party,
    RawMessage,
    Report,
    RevealRequest,
)
from stopit_mail.outbound.delivery import MaildirTransport, transport_for

WARNING = "retention-warning"
PURGED = "retention-purged"


@dataclass(frozen=True)
class PlanItem:
    """One closed case under a retention rule, and where it stands at `now`."""

    number: str
    organisation: str
    outcome: str | None
    rule: str
    last_activity: datetime
    due_at: datetime
    warned_at: datetime | None
    purge_at: datetime | None  # None: not warned yet (the purge comes warning_days after the warning)
    held: bool
    state: str  # held | kept | warning | due


@dataclass
class RunResult:
    """What one retention run did."""

    warned: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _period(settings: Settings, case: Case) -> tuple[int, str] | None:
    """Days to keep this case after its last activity, and the rule's name; None: kept."""
    if case.status is not CaseStatus.CLOSED:
        return None
    org = settings.organisation(case.organisation)
    if org is None:
        return None
    for rule in org.retention.outcomes:
        if rule.outcome == case.outcome:
            return rule.days, f"closed as {rule.outcome}: {rule.days} days"
    if org.retention.closed_days:
        return org.retention.closed_days, f"closed: {org.retention.closed_days} days"
    return None


def _latest(session: Session, query: object) -> dict[int, datetime]:
    return {case_id: _aware(at) for case_id, at in session.execute(query) if at is not None}  # type: ignore[call-overload]


def _last_activity(session: Session, case_ids: list[int]) -> dict[int, datetime]:
    latest: dict[int, datetime] = {}
    queries = (
        select(Event.case_id, func.max(Event.at)).where(Event.case_id.in_(case_ids), Event.action != WARNING)
        .group_by(Event.case_id),
        select(Report.case_id, func.max(Report.received_at)).where(Report.case_id.in_(case_ids))
        .group_by(Report.case_id),
        select(RawMessage.case_id, func.max(RawMessage.received_at)).where(RawMessage.case_id.in_(case_ids))
        .group_by(RawMessage.case_id),
    )
    for query in queries:
        for case_id, at in _latest(session, query).items():
            latest[case_id] = max(at, latest.get(case_id, at))
    return latest


def _warnings(session: Session, case_ids: list[int]) -> dict[int, datetime]:
    return _latest(session, select(Event.case_id, func.max(Event.at)).where(
        Event.case_id.in_(case_ids), Event.action == WARNING).group_by(Event.case_id))


def _items(session: Session, settings: Settings, now: datetime, actor: Actor | None) -> list[tuple[Case, PlanItem]]:
    cases = [c for c in session.scalars(select(Case).where(Case.status == CaseStatus.CLOSED, Case.purged_at.is_(None))
                                        .order_by(Case.id))
             if (actor is None or actor.may_see(c.organisation)) and _period(settings, c) is not None]
    ids = [c.id for c in cases]
    activity, warned = _last_activity(session, ids), _warnings(session, ids)
    items = []
    for case in cases:
        period = _period(settings, case)
        assert period is not None
        days, rule = period
        org = settings.organisation(case.organisation)
        assert org is not None
        last = max(activity.get(case.id, _aware(case.opened_at)), _aware(case.closed_at or case.opened_at))
        due = last + timedelta(days=days)
        warning = warned.get(case.id)
        warning = warning if warning is not None and warning >= last else None  # stale after new activity
        purge_at = max(due, warning + timedelta(days=org.retention.warning_days)) if warning else None
        if case.legal_hold:
            state = "held"
        elif purge_at is not None and now >= purge_at:
            state = "due"
        elif now >= due - timedelta(days=org.retention.warning_days):
            state = "warning"
        else:
            state = "kept"
        items.append((case, PlanItem(case.number, case.organisation, case.outcome, rule, last, due, warning,
                                     purge_at, case.legal_hold, state)))
    return items


def plan(session: Session, settings: Settings, actor: Actor | None, now: datetime | None = None) -> list[PlanItem]:
    """Closed cases under a retention rule that the actor may see, soonest purge first."""
    moment = now or datetime.now(UTC)
    return sorted((item for _, item in _items(session, settings, moment, actor)), key=lambda i: i.due_at)


def run_due(session: Session, settings: Settings, now: datetime | None = None, actor: str = events.SYSTEM_ACTOR,
            scope: Actor | None = None) -> RunResult:
    """Warn about cases entering their warning period and purge the ones due (the worker's tick too)."""
    moment = now or datetime.now(UTC)
    result = RunResult()
    for case, item in _items(session, settings, moment, scope):
        if item.state == "warning" and item.warned_at is None:
            org = settings.organisation(case.organisation)
            assert org is not None
            warning = events.record(session, WARNING, case.id, actor=actor, at_the_earliest=(
                max(item.due_at, moment + timedelta(days=org.retention.warning_days))).isoformat(), rule=item.rule)
            warning.at = moment  # the run's clock, which the purge is counted from
            result.warned.append(case.number)
        elif item.state == "due":
            purge_case(session, settings, case, moment, actor, item.rule)
            result.purged.append(case.number)
    if result.purged:
        _after_purge(session)
    return result


def _maildir_copies(settings: Settings, outbox_ids: list[int]) -> int:
    transport = transport_for(settings)
    if not isinstance(transport, MaildirTransport) or not outbox_ids:
        return 0
    removed = 0
    for outbox_id in outbox_ids:
        for sub in ("new", "cur", "tmp"):
            for path in (transport.root / sub).glob(f"stopit-outbox-{outbox_id:010d}.*"):
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def purge_case(session: Session, settings: Settings, case: Case, now: datetime, actor: str, rule: str) -> None:
    """Remove every identifying trace of one case, keep its statistics stub, audit with counts only."""
    cid = case.id
    outbox_ids = list(session.scalars(select(OutboxMessage.id).where(OutboxMessage.case_id == cid)))
    escalations = select(Escalation.id).where(Escalation.case_id == cid)
    counts: dict[str, Any] = {"reports": session.scalar(select(func.count()).select_from(Report).where(Report.case_id == cid)),
              "evidence": session.scalar(select(func.count()).select_from(Evidence).where(Evidence.case_id == cid)),
              "outbox": len(outbox_ids)}
    session.execute(delete(Page).where(or_(Page.escalation_id.in_(escalations), Page.outbox_id.in_(outbox_ids))))
    session.execute(delete(Escalation).where(Escalation.case_id == cid))
    session.execute(delete(OutboxMessage).where(OutboxMessage.case_id == cid))
    session.execute(delete(OffenderLink).where(or_(OffenderLink.case_id == cid, OffenderLink.other_case_id == cid)))
    session.execute(delete(CaseAlias).where(CaseAlias.case_id == cid))
    session.execute(delete(RevealRequest).where(RevealRequest.case_id == cid))
    session.execute(delete(Evidence).where(Evidence.case_id == cid))
    session.execute(delete(Party).where(Party.case_id == cid))
    raw_ids = list(session.scalars(select(Report.raw_message_id).where(Report.case_id == cid)))
    session.execute(delete(Report).where(Report.case_id == cid))
    session.execute(delete(RawMessage).where(or_(RawMessage.case_id == cid, RawMessage.id.in_(raw_ids))))
    session.execute(update(Event).where(Event.case_id == cid).values(detail={}))
    case.title, case.resolution, case.triage, case.assigned_to = "", None, None, None
    case.purged_at = now
    counts["maildir_copies"] = _maildir_copies(settings, outbox_ids)
    events.record(session, PURGED, cid, actor=actor, rule=rule, **counts).at = now


def _after_purge(session: Session) -> None:
    """Leave no deleted words behind on SQLite: merge the full-text index, truncate the WAL after commit."""
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'search_text'")).first() is not None:
        # FTS5 deletes are tombstones until segments merge; 'optimize' rewrites the index without them.
        session.execute(text("INSERT INTO search_text(search_text) VALUES('optimize')"))
    scrub_log_after_commit(session)


def set_hold(session: Session, actor: Actor, case: Case, reason: str, hold: bool) -> None:
    """Put a case on legal hold (any staff of its organisation) or release it (admin); audited."""
    actor.check_case(case)
    if not hold:
        actor.check_role("admin")
    if len((reason or "").strip()) < 10:
        raise StopitError("a legal hold or release needs --reason of at least 10 characters (kept in the audit log)")
    if case.purged_at is not None:
        raise StopitError(f"case {case.number} was purged on {case.purged_at:%Y-%m-%d}; nothing is left to hold")
    if case.legal_hold == hold:
        raise StopitError(f"case {case.number} is {'already' if hold else 'not'} on legal hold")
    case.legal_hold = hold
    events.record(session, "legal-hold" if hold else "legal-hold-released", case.id, actor=actor.name,
                  automatic=False, reason=reason.strip())
