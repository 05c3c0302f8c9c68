"""The case-level figures of `stopit stats`, computed in the database in two passes.

A million cases must not become a million Python objects: one grouped scan of the cases
gives categories, urgency, outcomes and months together (a few thousand groups at most), and
the time to first staff action is computed as seconds by the database, so only numbers
cross into Python.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import ColumnElement, Float, Select, String, case, cast, func, select
from sqlalchemy.orm import Session

from stopit_mail.cases.triage import URGENCIES
from stopit_mail.models import CaseStatus, Event

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


def grouped_figures(session: Session, cases: Select[Any]) -> dict[str, Any]:
    """Total, categories, urgency, outcomes of closed cases and cases per month.

    One grouped query per figure: each groups by one narrow column (and the indexes on
    urgency, status and opening time serve them), which is several times faster on SQLite
    than one query grouping by all of them at once.
    """
    listed = cases.subquery()
    by_category: Counter[str] = Counter()
    categories = cast(listed.c.categories, String)
    # Grouping by the categories list's JSON text gives one row per combination, not per case.
    for text_value, count in session.execute(select(categories, func.count()).group_by(categories)):
        names = json.loads(text_value) if text_value else []
        by_category.update(dict.fromkeys(names or [UNTRIAGED], count))
    by_urgency: Counter[str] = Counter({u: 0 for u in URGENCIES})
    for urgency, count in session.execute(select(listed.c.urgency, func.count()).group_by(listed.c.urgency)):
        by_urgency[urgency] += count
    by_outcome: Counter[str] = Counter()
    for outcome, count in session.execute(select(listed.c.outcome, func.count()).where(
            listed.c.status == CaseStatus.CLOSED).group_by(listed.c.outcome)):
        by_outcome[outcome or "(none recorded)"] += count
    month = _month(session, listed.c.opened_at)
    emergencies = func.sum(case((listed.c.urgency == "emergency", 1), else_=0))
    closed = func.sum(case((listed.c.status == CaseStatus.CLOSED, 1), else_=0))
    months = [{"month": m, "cases": n, "emergencies": int(e or 0), "closed": int(c or 0)}
              for m, n, e, c in session.execute(select(month, func.count(), emergencies, closed)
                                                .group_by(month).order_by(month))]
    total = sum(by_urgency.values())
    return {
        "cases": total,
        "categories": _rows(by_category, total),
        "urgency": _rows(by_urgency, total, {u: i for i, u in enumerate(URGENCIES)}),
        "outcomes": _rows(by_outcome, sum(by_outcome.values())),
        "by_month": months,
    }


def _seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(func.extract("epoch", end - start), Float)


def first_staff_action(session: Session, cases: Select[Any], total: int) -> dict[str, Any]:
    """Median, 90th percentile and distribution of the time from opening to a person's first action.

    The database subtracts the times and returns plain seconds; Python only sorts floats.
    """
    listed = cases.subquery()
    first = select(Event.case_id, func.min(Event.at).label("at")).where(
        Event.automatic.is_(False), Event.case_id.is_not(None)).group_by(Event.case_id).subquery()
    delay = _seconds_between(session, listed.c.opened_at, first.c.at)
    # Rounded to the millisecond: julianday arithmetic turns an exact hour into 3599.99999 s.
    delays = sorted(round(float(d), 3) for d in session.scalars(
        select(delay).select_from(listed.join(first, first.c.case_id == listed.c.id))) if d is not None)
    measured = len(delays)
    buckets = Counter(next(label for label, bound in RESPONSE_BUCKETS if value < bound) for value in delays)
    median = None
    if delays:
        middle = measured // 2
        median = round(delays[middle] if measured % 2 else (delays[middle - 1] + delays[middle]) / 2, 1)
    return {"median_seconds": median, "measured": measured, "awaiting": total - measured,
            "p90_seconds": round(delays[min(measured - 1, int(measured * 0.9))], 1) if delays else None,
            "distribution": [{"name": label, "cases": buckets[label], "share": share(buckets[label], measured)}
                             for label, _bound in RESPONSE_BUCKETS]}
