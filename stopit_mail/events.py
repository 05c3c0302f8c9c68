"""The append-only event log: every automatic and staff action, with actor and time.

It sits at the top of the package because every layer writes to it (ingest, cases, outbound).

It is both the case timeline and the audit trail. Rows are only ever inserted; nothing in
stopit-mail updates or deletes them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from stopit_mail.models import Event

SYSTEM_ACTOR = "stopit"


def record(
    session: Session,
    action: str,
    case_id: int | None = None,
    actor: str = SYSTEM_ACTOR,
    automatic: bool = True,
    **detail: Any,
) -> Event:
    """Append one event in the caller's transaction."""
    event = Event(case_id=case_id, action=action, actor=actor, automatic=automatic, detail=detail)
    session.add(event)
    return event
