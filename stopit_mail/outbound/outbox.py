"""The durable outbox: queue in the caller's transaction, then deliver and retry with backoff.

Queuing never talks to the network: it only inserts a row next to the state change that
caused it, so the message exists if and only if that change committed. Delivery happens later
(`sender.py`), and a temporary failure schedules the next attempt with exponential backoff.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.db import inserts_skipping_taken
from stopit_mail.models import OutboxMessage, OutboxStatus
from stopit_mail.outbound.compose import Draft, compose, new_message_id
from stopit_mail.outbound.redact.errors import redact_error
from stopit_mail.sealing import SEALED_PREFIX

MAX_BACKOFF = timedelta(hours=6)
# Delivery priority of pages and emergency acknowledgements: sent before anything else queued.
URGENT_DELIVERY = 100
URGENT_KINDS = frozenset({"page", "escalation-alert", "watchdog-alert", "emergency-fallback"})


_BY_DEDUP_KEY = select(OutboxMessage).where(OutboxMessage.dedup_key == bindparam("dedup_key"))
_OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]
_ID_BY_DEDUP_KEY = select(_OUTBOX.c.id).where(_OUTBOX.c.dedup_key == bindparam("dedup_key"))
_INSERT = insert(_OUTBOX).returning(_OUTBOX.c.id)
# The hot path's insert: a repeat of a dedup key inserts nothing and returns no row, so a new
# message costs one statement instead of a look-up and an insert (the key is a unique column).
_INSERT_NEW = inserts_skipping_taken(_OUTBOX, "dedup_key", returning=(_OUTBOX.c.id,))


def enqueue(
    session: Session, draft: Draft, kind: str, dedup_key: str, case_id: int | None = None,
    envelope_from: str = "", actor: str = events.SYSTEM_ACTOR, recipient_key: str | None = None,
    alias_id: int | None = None, domain_key: str | None = None, priority: int = 0, **detail: object,
) -> OutboxMessage:
    """Queue a message once per `dedup_key` (returns the existing row on a repeat).

    Pages and alerts (URGENT_KINDS) are always delivered first; `priority` raises others.

    The event `<kind>-queued` records who caused it and any `detail` (template, recipient...).
    """
    existing = session.scalar(_BY_DEDUP_KEY, {"dedup_key": dedup_key})
    if existing is not None:
        return existing
    values = _row(draft, kind, dedup_key, case_id, envelope_from, recipient_key, alias_id, domain_key, priority)
    row = OutboxMessage(**values)
    session.add(row)
    session.flush()
    events.record(session, f"{kind}-queued", case_id, actor=actor, automatic=actor == events.SYSTEM_ACTOR,
                  outbox_id=row.id, message_id=row.message_id, **detail)
    return row


def queue(
    session: Session, draft: Draft, kind: str, dedup_key: str, case_id: int | None = None,
    envelope_from: str = "", recipient_key: str | None = None, alias_id: int | None = None,
    domain_key: str | None = None, priority: int = 0,
) -> int:
    """`enqueue` for the hot path (an acknowledgement per report): plain inserts, no row object.

    Returns the queued row's id (the existing one's on a repeat of `dedup_key`). Executed
    through the session, so anything it holds pending is flushed first and the event log
    keeps its order. The message is composed before we know whether it is a repeat: repeats
    are rare (a retried message whose first attempt committed), one statement per message is not.
    """
    values = _row(draft, kind, dedup_key, case_id, envelope_from, recipient_key, alias_id, domain_key, priority)
    statement = _INSERT_NEW.get(session.get_bind().dialect.name)
    if statement is None:  # another database: look first, as `enqueue` does
        existing = session.execute(_ID_BY_DEDUP_KEY, {"dedup_key": dedup_key}).scalar()
        if existing is not None:
            return int(existing)
        statement = _INSERT
    inserted = session.execute(statement, values).scalar()
    if inserted is None:  # a repeat: the row queued the first time
        return int(session.execute(_ID_BY_DEDUP_KEY, {"dedup_key": dedup_key}).scalar_one())
    row_id = int(inserted)
    events.record_all(session, [events.entry(f"{kind}-queued", case_id, outbox_id=row_id,
                                             message_id=values["message_id"])])
    return row_id


def _row(draft: Draft, kind: str, dedup_key: str, case_id: int | None, envelope_from: str,
         recipient_key: str | None, alias_id: int | None, domain_key: str | None, priority: int) -> dict[str, object]:
    """The outbox row of a draft: composed, its sealed recipients named only in the envelope."""
    domain = draft.from_address.rpartition("@")[2] or "localhost"
    # A sealed recipient (an anonymous reporter) is named only in the envelope, at delivery.
    visible = [r for r in draft.to if not r.startswith(SEALED_PREFIX)]
    shown = replace(draft, to=visible or ["undisclosed-recipients:;"])
    message_id = new_message_id(domain)
    return {"case_id": case_id, "kind": kind, "dedup_key": dedup_key, "envelope_from": envelope_from,
            "recipients": list(draft.to), "recipient_key": recipient_key, "domain_key": domain_key,
            "alias_id": alias_id, "subject": draft.subject, "message_id": message_id,
            "content": compose(shown, message_id),
            "priority": URGENT_DELIVERY if kind in URGENT_KINDS else priority}


def due_ids(session: Session, now: datetime | None = None, limit: int = 50) -> list[int]:
    """Queued messages whose next attempt is due: pages and emergencies first, then oldest first."""
    now = now or datetime.now(UTC)
    query = (select(OutboxMessage.id)
             .where(OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.next_attempt_at <= now)
             .order_by(OutboxMessage.priority.desc(), OutboxMessage.next_attempt_at, OutboxMessage.id)
             .limit(limit))
    return list(session.scalars(query))


def backoff(attempts: int, base_seconds: int) -> timedelta:
    """Delay before attempt number `attempts + 1`: base, 2x base, 4x base... capped at 6 h."""
    return min(timedelta(seconds=base_seconds * (2 ** max(attempts - 1, 0))), MAX_BACKOFF)


def mark_sent(session: Session, row: OutboxMessage, now: datetime | None = None) -> None:
    """Record a successful hand-off."""
    row.status = OutboxStatus.SENT
    row.sent_at = now or datetime.now(UTC)
    row.attempts += 1
    row.last_error = None
    events.record(session, f"{row.kind}-sent", row.case_id, outbox_id=row.id)


def mark_failed_attempt(
    session: Session, row: OutboxMessage, error: str, permanent: bool, max_attempts: int,
    base_seconds: int, now: datetime | None = None,
) -> None:
    """Schedule a retry, or give up (permanent error or attempts exhausted) and tell the case."""
    now = now or datetime.now(UTC)
    row.attempts += 1
    row.last_error = redact_error(error)[:2000]  # a relay quotes the address it refuses
    if permanent or row.attempts >= max_attempts:
        row.status = OutboxStatus.FAILED
        events.record(session, f"{row.kind}-failed", row.case_id, outbox_id=row.id, error=row.last_error,
                      attempts=row.attempts)
    else:
        row.next_attempt_at = now + backoff(row.attempts, base_seconds)


def backlog(session: Session) -> dict[str, int]:
    """Counts by status, for `stopit status`."""
    rows = session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    return {status.value: count for status, count in rows}


def _count_since(column: str) -> Select[int]:
    """Messages of a kind with this `column` value since a time (built once: queried per report)."""
    return select(func.count(_OUTBOX.c.id)).where(
        _OUTBOX.c.kind == bindparam("kind"), _OUTBOX.c[column] == bindparam(f"key_{column}"),
        _OUTBOX.c.created_at >= bindparam("since", type_=_OUTBOX.c.created_at.type))


_SENT_TO = _count_since("recipient_key")
_SENT_TO_DOMAIN = _count_since("domain_key")
_SENT_FOR_CASE = _count_since("case_id")
# The two counts every acknowledgement needs, in one statement.
_SENT_TO_AND_FOR_CASE = select(_SENT_TO.scalar_subquery(), _SENT_FOR_CASE.scalar_subquery())


def sent_to_domain_since(session: Session, key: str, kind: str, since: datetime) -> int:
    """How many messages of `kind` went to the domain with this keyed hash since a time."""
    return session.scalar(_SENT_TO_DOMAIN, {"kind": kind, "key_domain_key": key, "since": since}) or 0


def sent_to_and_for_case_since(session: Session, key: str, case_id: int | None, kind: str,
                               since: datetime) -> tuple[int, int]:
    """How many messages of `kind` went to the recipient with this key, and were queued for the
    case (0 without a case), since a time (rate limits), in one statement."""
    row = session.execute(_SENT_TO_AND_FOR_CASE, {"kind": kind, "key_recipient_key": key,
                                                  "key_case_id": case_id, "since": since}).one()
    return int(row[0] or 0), (int(row[1] or 0) if case_id is not None else 0)
