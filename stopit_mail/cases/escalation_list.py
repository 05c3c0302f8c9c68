"""What `stopit escalations` and `stopit status` show: open escalations with their clocks.

Impossible escalations (an emergency with nobody to page), chains paged round after round
without an answer, and pages overdue because no worker is running are flagged with an
`alert` sentence, so the listing shouts where something needs a person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail.cases.escalation import OPEN_STATUSES
from stopit_mail.cases.escalation_clock import NO_CHAIN, PagePosition, utc
from stopit_mail.models import Case, Escalation, EscalationStatus

# A page this late means no worker is ticking: say so.
OVERDUE_ALERT_SECONDS = 120


def state_of(esc: Escalation) -> str:
    """'active', 'acknowledged', or 'impossible' (an open escalation with no chain to page)."""
    if esc.status is EscalationStatus.ACKNOWLEDGED:
        return "acknowledged"
    if not esc.steps or esc.chain == NO_CHAIN:
        return "impossible"
    return esc.status.value


def _alert(esc: Escalation, state: str, due_in: int | None, organisation: str) -> str | None:
    if state == "impossible":
        return (f"NOBODY WAS PAGED: organisation {organisation!r} has no escalation chain configured; "
                f"handle this emergency by phone, then `stopit ack`")
    if state != "active" or due_in is None:
        return None
    if due_in < -OVERDUE_ALERT_SECONDS:
        return f"next page OVERDUE by {-due_in // 60} min: is the worker running?"
    position = PagePosition(max(esc.step, 0), len(esc.steps))
    if position.round > 1:
        return f"nobody acknowledged the whole chain; paging round {position.round}"
    return None


def row(esc: Escalation, number: str, organisation: str, now: datetime) -> dict[str, Any]:
    """One escalation as a JSON-ready dict with its clocks in seconds relative to `now`."""
    now = utc(now)
    state = state_of(esc)
    steps = esc.steps or []
    current = next_contact = None
    position = None
    if steps and esc.step >= 0:
        position = PagePosition(esc.step, len(steps))
        current = steps[position.index]["contact"]
        next_contact = steps[PagePosition(esc.step + 1, len(steps)).index]["contact"]
    due_in = int((utc(esc.next_deadline) - now).total_seconds()) if state == "active" else None
    return {
        "case": number,
        "organisation": organisation,
        "escalation_id": esc.id,
        "kind": esc.kind,
        "status": state,
        "chain": esc.chain,
        "contacts": [s["contact"] for s in steps],
        "step": position.index + 1 if position else None,
        "steps": len(steps),
        "round": position.round if position else None,
        "contact": current,
        "started_at": utc(esc.started_at).isoformat(),
        "running_seconds": int((now - utc(esc.started_at)).total_seconds()),
        "next_page_at": utc(esc.next_deadline).isoformat() if state == "active" else None,
        "next_page_in_seconds": due_in,
        "next_contact": next_contact if state == "active" else None,
        "pages_sent": esc.step + 1 if steps else 0,
        "acknowledged_at": utc(esc.acknowledged_at).isoformat() if esc.acknowledged_at else None,
        "acknowledged_by": esc.acknowledged_by,
        "alert": _alert(esc, state, due_in, organisation),
    }


def escalation_rows(session: Session, now: datetime, include_acknowledged: bool = False,
                    organisations: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Open escalations (impossible ones first, then oldest first); acknowledged too on request.

    `organisations` limits the list to those slugs (empty: all), for restricted staff.
    """
    query = select(Escalation, Case.number, Case.organisation).join(Case, Case.id == Escalation.case_id)
    if not include_acknowledged:
        query = query.where(Escalation.status.in_(OPEN_STATUSES))
    else:
        query = query.where(Escalation.status != EscalationStatus.CLOSED)
    if organisations:
        query = query.where(Case.organisation.in_(sorted(organisations)))
    rows = [row(esc, number, org, now) for esc, number, org in session.execute(query.order_by(Escalation.id))]
    order = {"impossible": 0, "active": 1, "exhausted": 1, "acknowledged": 2}
    return sorted(rows, key=lambda r: (order.get(r["status"], 1), r["started_at"], r["escalation_id"]))


def escalation_summary(session: Session, now: datetime) -> dict[str, int]:
    """Counts for `stopit status`: active, impossible, overdue (no worker?), repeating rounds."""
    rows = escalation_rows(session, now)
    return {
        "active": sum(1 for r in rows if r["status"] == "active"),
        "impossible": sum(1 for r in rows if r["status"] == "impossible"),
        "overdue": sum(1 for r in rows if (r["next_page_in_seconds"] or 0) < -OVERDUE_ALERT_SECONDS),
        "repeating": sum(1 for r in rows if (r["round"] or 0) > 1 and r["status"] == "active"),
    }
