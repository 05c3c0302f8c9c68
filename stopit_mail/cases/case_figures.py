"""The case-level figures of `stopit stats`, read from rollups rather than from every case.

A million cases must not become a million Python objects, nor a scan: categories, urgency,
outcomes, months and reports come from `stat_tallies` (a few rows per month, kept by triggers,
see cases/rollups.py), and the time to first staff action from each case's own
`first_staff_seconds` and its index.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, select
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


# (kind, month, urgency, categories as JSON text, closed?, outcome, count): a tally of cases or
# reports. Categories None: counted apart, by a row of kind "categories" (month and urgency unused).
TallyRow = tuple[str, str, str, str | None, bool, str, int]


def tally_rows(session: Session, organisations: ColumnElement[bool], scope: ColumnElement[bool],
               since: datetime | None) -> list[TallyRow]:
    """The counted attributes of the cases and reports in scope opened (received) since `since`.

    Whole months come from the rollup (`stat_tallies`, a few rows per month), summed by the
    database over months, urgency and outcome in one query and over categories in another (so a
    few hundred rows reach Python, not every combination); the month `since` falls in, when it
    is not the whole month, is counted from the cases themselves, through the index on opening time.
    """
    if fold(session):
        session.flush()
    where = [organisations]
    rows: list[TallyRow] = []
    if since is not None:
        first = since.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (first + timedelta(days=32)).replace(day=1)
        where.append(StatTally.month >= following.strftime("%Y-%m"))
        rows += _live_rows(session, scope, since, following)
    total = func.sum(StatTally.tally)
    keys = (StatTally.kind, StatTally.month, StatTally.urgency, StatTally.closed, StatTally.outcome)
    for kind, month, urgency, closed, outcome, count in session.execute(
            select(*keys, total).where(*where, StatTally.kind != "merged").group_by(*keys).having(total != 0)):
        rows.append((kind, month, urgency, None, bool(closed), outcome, int(count)))
    for categories, count in session.execute(select(StatTally.categories, total).where(
            *where, StatTally.kind == "case").group_by(StatTally.categories).having(total != 0)):
        rows.append(("categories", "", "", categories, False, "", int(count)))
    return rows


@functools.lru_cache(maxsize=4096)
def _category_names(listed: str) -> tuple[str, ...]:
    """The distinct categories of a stored JSON list ("" or null: untriaged)."""
    names = json.loads(listed) if listed else []
    return tuple(dict.fromkeys(names or [UNTRIAGED]))


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
    rows += [("report", m, "", None, False, "", count) for m, count in session.execute(reports)]
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
        if categories is not None:
            by_category.update(dict.fromkeys(_category_names(categories), count))
        if kind != "case":
            continue
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


def _rounds_to_at_least(bound: float) -> float:
    """The least float x with round(x, 3) >= bound: `x < it` is exactly `round(x, 3) < bound`."""
    edge = bound - 0.0005
    while round(edge, 3) >= bound:
        edge = math.nextafter(edge, -math.inf)
    while round(edge, 3) < bound:
        edge = math.nextafter(edge, math.inf)
    return edge


def first_staff_action(session: Session, scope: ColumnElement[bool], since: datetime | None,
                       total: int) -> dict[str, Any]:
    """Median, 90th percentile and distribution of the time from opening to a person's first action.

    Each case carries that time (`first_staff_seconds`, kept by triggers); each bucket is a
    range count on its index, and the median and 90th percentile are read at their offsets in
    the index's order, so no list of a million delays is ever built, nor a function called per row.
    """
    delay = Case.first_staff_seconds
    where = [scope, delay.is_not(None)] + ([Case.opened_at >= since] if since is not None else [])
    # Bucketed as before, on the delay rounded to the millisecond (julianday arithmetic turns an
    # exact hour into 3599.99999 s), but as one range count per bucket through the index.
    counts, lower = [], None
    for _label, bound in RESPONSE_BUCKETS:
        upper = _rounds_to_at_least(bound) if bound != float("inf") else None
        ranged = [*where, *([delay >= lower] if lower is not None else []), *([delay < upper] if upper is not None else [])]
        counts.append(session.scalar(select(func.count()).where(*ranged)) or 0)
        lower = upper
    measured = sum(counts)

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
