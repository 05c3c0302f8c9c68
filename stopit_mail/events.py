"""The append-only event log: every automatic and staff action, with actor and time.

It sits at the top of the package because every layer writes to it (ingest, cases, outbound).

It is both the case timeline and the audit trail. Rows are only ever inserted; nothing in
stopit-mail updates or deletes them.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from stopit_mail.models import Event, utcnow
from stopit_mail.rowbuffer import buffer_of

SYSTEM_ACTOR = "stopit"
# The Unix account behind the current staff request, set by the API layer for the length of one
# call (per thread: each API connection is served in its own thread, and a context var is local to it).
UNIX_USER: ContextVar[str | None] = ContextVar("stopit_unix_user", default=None)


def record(
    session: Session,
    action: str,
    case_id: int | None = None,
    actor: str = SYSTEM_ACTOR,
    automatic: bool = True,
    **detail: Any,
) -> Event:
    """Append one event in the caller's transaction.

    In a worker's batch (`rowbuffer`) the event is held with the batch's other events, in order,
    and the object returned is not added to the session."""
    event = Event(case_id=case_id, action=action, actor=actor, automatic=automatic, detail=detail,
                  unix_user=UNIX_USER.get())
    buffer = buffer_of(session)
    if buffer is not None:
        buffer.add(_EVENTS, [{**entry(action, case_id, actor, automatic, **detail), "unix_user": event.unix_user}])
        return event
    session.add(event)
    return event


def entry(action: str, case_id: int | None = None, actor: str = SYSTEM_ACTOR, automatic: bool = True,
          **detail: Any) -> dict[str, Any]:
    """One event as a row, for `record_all`."""
    return {"case_id": case_id, "at": utcnow(), "actor": actor, "action": action, "detail": detail,
            "automatic": automatic}


def record_all(session: Session, entries: list[dict[str, Any]]) -> None:
    """Append several events in one INSERT, in order (hot paths: filing a report).

    A plain table insert, not ORM objects: filing records several events per message and the
    unit of work costs more than the rows themselves. Rows the session holds pending (events
    recorded with `record`, a new case) are flushed first, so the log keeps its order; changes
    to rows already written are left for the next flush (they order nothing here, and a case
    changed by several steps is then updated once).
    """
    if not entries:
        return
    buffer = buffer_of(session)
    if buffer is not None:
        buffer.add(_EVENTS, [{**row, "unix_user": row.get("unix_user")} for row in entries])
        return
    if session.new:
        session.execute(insert(_EVENTS), entries)
        return
    with session.no_autoflush:
        session.execute(insert(_EVENTS), entries)


_EVENTS: Table = Event.__table__  # type: ignore[assignment]
