"""The case-level figures of `stopit stats`, read from rollups rather than from every case.

A million cases must not become a million Python objects, nor a scan: categories, urgency,
outcomes, months and reports come from `stat_tallies` (a few rows per month, kept by triggers,
see cases/rollups.py), and the time to first staff action from each case's own
`first_staff_seconds` and its index.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Numeric, String, cast, func, select
from sqlalchemy.orm import Session

from stopit_mail.cases.rollups import fold
from stopit_mail.cases.triage import URGENCIES
from stopit_mail.models import Case, CaseStatus, Report, StatTally

UNTRIAGED = "untriaged"
# Buckets of the response-time distribution: (label, upper bound in seconds).
RESPONSE_BUCKETS = (("under 1 h", 3600), ("1-4 h", 4 * 3600), ("4-24 h", 86400), ("1-3 days", 3 * 86400),
                    ("3-7 days", 7 * 86400), ("over 7 days", float("inf")))


def share(count: int, total: int) -> float:
    """count / total rounded to four places (0 when there is nothing to divide)."""
    return round(count / total, 4) if total else 0.0


def _rows(counter: Counter[str], total: int, order: dict[str, int] | None = None) -> list[dict[str, Any]]:
    if order is None:
        ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    else:
        ranked = sorted(counter.items(), key=lambda item: (order.get(item[0], 99), item[0]))
    return [{"name": name, "cases": n, "share": share(n, total)} for name, n in ranked]


def _month(session: Session, column: Any) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m", column)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM")


# (kind, month, urgency, categories as JSON text, closed?, outcome, count): a tally of cases or reports.
TallyRow = tuple[str, str, str, str, bool, str, int]


def tally_rows(session: Session, organisations: ColumnElement[bool], scope: ColumnElement[bool],
               since: datetime | None) -> list[TallyRow]:
    """The counted attributes of the cases and reports in scope opened (received) since `since`.

    Whole months come from the rollup (`stat_tallies`, a few rows per month); the month `since`
    falls in, when it is not the whole month, is counted from the cases themselves, through
    the index on opening time.
    """
    if fold(session):
        session.flush()
    query = select(StatTally.kind, StatTally.month, StatTally.urgency, StatTally.categories, StatTally.closed,
                   StatTally.outcome, func.sum(StatTally.tally)).where(organisations, StatTally.kind != "merged")
    rows: list[TallyRow] = []
    if since is not None:
        first = since.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (first + timedelta(days=32)).replace(day=1)
        query = query.where(StatTally.month >= following.strftime("%Y-%m"))
        rows += _live_rows(session, scope, since, following)
    keys = (StatTally.kind, StatTally.month, StatTally.urgency, StatTally.categories, StatTally.closed,
            StatTally.outcome)
    for kind, month, urgency, categories, closed, outcome, count in session.execute(
            query.group_by(*keys).having(func.sum(StatTally.tally) != 0)):
        rows.append((kind, month, urgency, categories, bool(closed), outcome, int(count)))
    return rows


def _live_rows(session: Session, scope: ColumnElement[bool], since: datetime, until: datetime) -> list[TallyRow]:
    """What the rollup would say for cases opened and reports received in [since, until)."""
    month, categories = _month(session, Case.opened_at), func.coalesce(cast(Case.categories, String), "")
    cases = select(month, Case.urgency, categories, Case.status, Case.outcome, func.count()).where(
        scope, Case.opened_at >= since, Case.opened_at < until).group_by(
        month, Case.urgency, categories, Case.status, Case.outcome)
    rows: list[TallyRow] = []
    for opened, urgency, listed, status, outcome, count in session.execute(cases):
        closed = status == CaseStatus.CLOSED
        rows.append(("case", opened, urgency, listed, closed, (outcome or "") if closed else "", count))
    received = _month(session, Report.received_at)
    reports = select(received, func.count()).join(Case, Case.id == Report.case_id).where(
        scope, Report.received_at >= since, Report.received_at < until).group_by(received)
    rows += [("report", m, "", "", False, "", count) for m, count in session.execute(reports)]
    return rows


def grouped_figures(rows: list[TallyRow]) -> dict[str, Any]:
    """Total, categories, urgency, outcomes of closed cases, cases per month, and reports, from tallies."""
    by_category: Counter[str] = Counter()
    by_urgency: Counter[str] = Counter({u: 0 for u in URGENCIES})
    by_outcome: Counter[str] = Counter()
    months: dict[str, dict[str, Any]] = {}
    reports = 0
    for kind, month, urgency, categories, closed, outcome, count in rows:
        if kind == "report":
            reports += count
        if kind != "case":
            continue
        names = json.loads(categories) if categories else []
        by_category.update(dict.fromkeys(names or [UNTRIAGED], count))
        by_urgency[urgency] += count
        row = months.setdefault(month, {"month": month, "cases": 0, "emergencies": 0, "closed": 0})
        row["cases"] += count
        row["emergencies"] += count if urgency == "emergency" else 0
        if closed:
            by_outcome[outcome or "(none recorded)"] += count
            row["closed"] += count
    total = sum(by_urgency.values())
    return {
        "cases": total,
        "reports": reports,
        "categories": _rows(+by_category, total),
        "urgency": _rows(by_urgency, total, {u: i for i, u in enumerate(URGENCIES)}),
        "outcomes": _rows(+by_outcome, sum(by_outcome.values())),
        "by_month": [months[m] for m in sorted(months) if months[m]["cases"]],
    }


def first_staff_action(session: Session, scope: ColumnElement[bool], since: datetime | None,
                       total: int) -> dict[str, Any]:
    """Median, 90th percentile and distribution of the time from opening to a person's first action.

    Each case carries that time (`first_staff_seconds`, kept by triggers); one pass over its
    index counts the buckets, and the median and 90th percentile are read at their offsets in
    the index's order, so no list of a million delays is ever built.
    """
    delay = Case.first_staff_seconds
    where = [scope, delay.is_not(None)] + ([Case.opened_at >= since] if since is not None else [])
    # Bucketed as before: on the delay rounded to the millisecond (julianday arithmetic turns an
    # exact hour into 3599.99999 s).
    rounded = func.round(delay, 3) if session.get_bind().dialect.name == "sqlite" else func.round(
        cast(delay, Numeric), 3)
    below = [func.count().filter(rounded < bound) for _label, bound in RESPONSE_BUCKETS[:-1]]
    measured, *under = session.execute(select(func.count(), *below).where(*where)).one()
    counts, previous = [], 0
    for cumulative in [*under, measured]:
        counts.append(cumulative - previous)
        previous = cumulative

    def at(offset: int, n: int = 1) -> list[float]:
        return [round(float(d), 3) for d in session.scalars(
            select(delay).where(*where).order_by(delay).offset(offset).limit(n)) if d is not None]

    median = p90 = None
    if measured:
        middle = measured // 2
        median = round(at(middle)[0] if measured % 2 else sum(at(middle - 1, 2)) / 2, 1)
        p90 = round(at(min(measured - 1, int(measured * 0.9)))[0], 1)
    return {"median_seconds": median, "measured": measured, "awaiting": total - measured, "p90_seconds": p90,
            "distribution": [{"name": label, "cases": n, "share": share(n, measured)}
                             for (label, _bound), n in zip(RESPONSE_BUCKETS, counts, strict=True)]}
