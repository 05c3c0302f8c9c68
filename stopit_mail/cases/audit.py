"""Read the audit log: every automatic and staff action, in the order it was appended.

Scoped like everything else: an actor limited to some organisations sees the events of their
cases only; events that belong to no case (installation-wide) are shown only to actors who
may see every organisation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stopit_mail.cases.queries import visible_to
from stopit_mail.cases.staff import Actor
from stopit_mail.models import Case, Event


def as_utc(value: datetime) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive datetimes; everything stored is UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sees_everything(actor: Actor | None) -> bool:
    """True when `actor` is not limited to some organisations."""
    return actor is None or not actor.restricted or not actor.organisations


def audit_log(
    session: Session, actor: Actor | None = None, case: Case | None = None, by: str | None = None,
    since: datetime | None = None, limit: int | None = None,
) -> list[dict[str, Any]]:
    """Events oldest first (append order), optionally for one case, one actor, or since a time.

    `limit` keeps the newest `limit` events (still printed oldest first).
    """
    query = select(Event, Case.number).outerjoin(Case, Case.id == Event.case_id)
    if case is not None:
        if actor is not None:
            actor.check_case(case)
        query = query.where(Event.case_id == case.id)
    elif sees_everything(actor):
        pass
    else:
        query = query.where(Event.case_id.is_not(None), visible_to(actor))
    if by:
        query = query.where(func.lower(Event.actor) == by.strip().lower())
    if since is not None:
        query = query.where(Event.at >= since)
    query = query.order_by(Event.id.desc() if limit else Event.id)
    if limit:
        query = query.limit(limit)
    rows = [{
        "id": event.id, "at": as_utc(event.at).isoformat(), "case": number, "actor": event.actor,
        "action": event.action, "automatic": event.automatic, "detail": event.detail,
        "unix_user": event.unix_user,
    } for event, number in session.execute(query)]
    return list(reversed(rows)) if limit else rows
