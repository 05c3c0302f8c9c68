"""Run the pipeline over stored messages: exactly once, or quarantined with a reason.

Each message is processed in one transaction that also flips its status, so every effect
(case, evidence, outbox rows) is committed together with "processed" or not at all. A crash
mid-way leaves the message `received`, and the next run processes it again from scratch.
A handler failure rolls back, then marks the message quarantined with the handler's name and
the error, so a person can look and `stopit quarantine retry` it after a fix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail import events
from stopit_mail.config import Settings
from stopit_mail.db import claim_writer
from stopit_mail.models import RawMessage, RawStatus
from stopit_mail.processing.context import Context, Quarantine
from stopit_mail.processing.registry import resolve
from stopit_mail.sealing import IdentityKeyError, open_bytes

log = logging.getLogger(__name__)

DEFAULT_PIPELINE = (
    "check-size",
    "parse-message",
    "acknowledge-page",
    "classify-arrival",
    "file-bounce",
    "set-aside-automatic",
    "file-reply",
    "triage-reply",
    "extract-evidence",
    "analyse-headers",
    "seal-identity",
    "open-case",
    "triage",
    "escalate-emergency",
    "route",
    "acknowledge",
)


@dataclass(frozen=True)
class Outcome:
    """What happened to one message."""

    raw_id: int
    status: str  # processed | quarantined | skipped
    reason: str | None = None
    case_number: str | None = None


def _organisation(settings: Settings, raw: RawMessage):  # type: ignore[no-untyped-def]
    for address in raw.rcpt_to or []:
        org = settings.organisation_for(address)
        if org is not None:
            return org
    return settings.default_organisation()


def _run(session: Session, settings: Settings, raw: RawMessage, pipeline: tuple[str, ...]) -> Outcome:
    try:
        # Sealed at rest once processed anonymously: opened in memory for a retry.
        content = open_bytes(settings, raw.content)
    except IdentityKeyError as exc:
        raise Quarantine(f"sealed message cannot be opened: {exc}") from exc
    ctx = Context(session=session, settings=settings, raw=raw, content=content,
                  organisation=_organisation(settings, raw))
    for handler in resolve(pipeline):
        try:
            handler.process(ctx)
        except Quarantine:
            raise
        except RecursionError as exc:
            raise Quarantine(f"{handler.name}: structure too deeply nested for the parser") from exc
        except Exception as exc:
            raise Quarantine(f"{handler.name}: {exc.__class__.__name__}: {exc}"[:1000]) from exc
        if ctx.done:
            break
    raw.status = RawStatus.PROCESSED
    raw.processed_at = datetime.now(UTC)
    raw.defects = sorted(set(ctx.defects))[:200]
    raw.attempts += 1
    return Outcome(raw.id, "processed", None, ctx.case.number if ctx.case else None)


def _quarantine(factory: sessionmaker[Session], raw_id: int, reason: str) -> Outcome:
    with factory() as session, session.begin():
        raw = session.get(RawMessage, raw_id)
        if raw is None or raw.status is not RawStatus.RECEIVED:
            return Outcome(raw_id, "skipped", "changed meanwhile")
        raw.status = RawStatus.QUARANTINED
        raw.reason = reason
        raw.attempts += 1
        events.record(session, "message-quarantined", None, raw_message_id=raw_id, reason=reason)
    log.warning("message %s quarantined: %s", raw_id, reason)
    return Outcome(raw_id, "quarantined", reason)


def process_message(
    factory: sessionmaker[Session], settings: Settings, raw_id: int,
    pipeline: tuple[str, ...] = DEFAULT_PIPELINE,
) -> Outcome:
    """Process one stored message if it is still waiting; never raises for bad input."""
    try:
        with factory() as session, session.begin():
            claim_writer(session)
            query = select(RawMessage).where(RawMessage.id == raw_id)
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            raw = session.scalar(query)
            if raw is None or raw.status is not RawStatus.RECEIVED:
                return Outcome(raw_id, "skipped", "not waiting")
            return _run(session, settings, raw, pipeline)
    except Quarantine as exc:
        return _quarantine(factory, raw_id, str(exc))
    except MemoryError:
        return _quarantine(factory, raw_id, "out of memory while processing")


def waiting_ids(factory: sessionmaker[Session], limit: int = 100) -> list[int]:
    """Ids of stored messages not yet processed, oldest first."""
    with factory() as session:
        return list(session.scalars(
            select(RawMessage.id).where(RawMessage.status == RawStatus.RECEIVED).order_by(RawMessage.id).limit(limit)
        ))


def process_waiting(factory: sessionmaker[Session], settings: Settings, limit: int = 100) -> list[Outcome]:
    """Process up to `limit` waiting messages (what a worker does in a loop)."""
    return [process_message(factory, settings, raw_id) for raw_id in waiting_ids(factory, limit)]


class ProcessingFailed(Exception):
    """Processing `raw_id` failed outside the pipeline (a database error); it was rolled back."""

    def __init__(self, raw_id: int) -> None:
        super().__init__(f"raw message {raw_id}")
        self.raw_id = raw_id


def process_next(
    factory: sessionmaker[Session], settings: Settings, pipeline: tuple[str, ...] = DEFAULT_PIPELINE,
    exclude: frozenset[int] = frozenset(),
) -> Outcome | None:
    """Claim the oldest waiting message and process it; None when nothing is waiting.

    On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED ... LIMIT 1` held for the whole
    transaction, so concurrent workers each take a different message instead of queueing on
    the same first id. `exclude` lets a worker step over messages it keeps failing on.
    Raises ProcessingFailed (with the id, caused by the database error) for non-pipeline errors.
    """
    raw_id: int | None = None
    try:
        with factory() as session, session.begin():
            claim_writer(session)
            query = select(RawMessage).where(RawMessage.status == RawStatus.RECEIVED)
            if exclude:
                query = query.where(RawMessage.id.not_in(exclude))
            query = query.order_by(RawMessage.id).limit(1)
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            raw = session.scalar(query)
            if raw is None:
                return None
            raw_id = raw.id
            return _run(session, settings, raw, pipeline)
    except Quarantine as exc:
        assert raw_id is not None
        return _quarantine(factory, raw_id, str(exc))
    except MemoryError:
        assert raw_id is not None
        return _quarantine(factory, raw_id, "out of memory while processing")
    except Exception as exc:
        if raw_id is None:
            raise
        raise ProcessingFailed(raw_id) from exc


def quarantine(factory: sessionmaker[Session], raw_id: int, reason: str) -> Outcome:
    """Set a waiting message aside with a reason (a worker giving up on a repeating failure)."""
    return _quarantine(factory, raw_id, reason)
