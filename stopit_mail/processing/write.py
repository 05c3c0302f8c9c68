"""The write step: computed messages written in one short transaction, exactly once.

The batch is written together first: one re-check of which messages still wait, each handler's
`process` with no savepoint per message or per side step, and the stored rows' final values in
one UPDATE per set of columns. Should any message fail, that attempt is rolled back whole and
the batch is written again with a savepoint per message (`write_isolated`), so that every
message ends exactly as if it had been written alone: quarantined for a handler's reason, a
failed side step recorded on its case, or a database error reported for the worker to retry.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.cases.dedup import normalise_message_id
from stopit_mail.config import Settings
from stopit_mail.db import claim_writer
from stopit_mail.extract import mime
from stopit_mail.models import RawMessage, RawStatus
from stopit_mail.outbound.redact.errors import redact_error
from stopit_mail.processing import chain, outcomes
from stopit_mail.processing.context import Context, Quarantine
from stopit_mail.processing.outcomes import Outcome
from stopit_mail.processing.pipelines import PIPELINES
from stopit_mail.processing.registry import resolve
from stopit_mail.rowbuffer import holding_rows
from stopit_mail.sealing import is_sealed_bytes

log = logging.getLogger(__name__)
_RAW = cast(Table, RawMessage.__table__)


class NotWaiting(Exception):
    """The message stopped waiting while we computed (another processor finished it)."""


def guarded(name: str, step: Callable[[], None]) -> None:
    """Run one handler phase; anything it raises becomes a precise quarantine reason."""
    try:
        step()
    except (Quarantine, NotWaiting):
        raise
    except RecursionError as exc:
        raise Quarantine(f"{name}: structure too deeply nested for the parser") from exc
    except MemoryError as exc:
        raise Quarantine(f"{name}: out of memory while processing") from exc
    except Exception as exc:
        raise Quarantine(f"{name}: {exc.__class__.__name__}: {exc}"[:1000]) from exc


def _row_values(ctx: Context) -> dict[str, object]:
    message_id = mime.header(ctx.message, "Message-ID")
    return {
        "status": RawStatus.PROCESSED.value, "processed_at": datetime.now(UTC), "claimed_until": None,
        "kind": chain.STORED_KIND[ctx.kind].value,
        "message_id": f"<{normalise_message_id(message_id)}>" if message_id else None,
        "subject": ctx.subject[:500] or None, "defects": sorted(set(ctx.defects))[:200],
        **_at_rest(ctx), **{k: getattr(v, "value", v) for k, v in ctx.updates.items()},
    }


def _at_rest(ctx: Context) -> dict[str, object]:
    """How the row's bytes and envelope are kept once processed: a message sealed at the 250 that
    turned out not to name an anonymous reporter is stored readable again (so a lost key never
    costs the originals of ordinary cases); one a handler sealed keeps the bytes as stored."""
    if not ctx.raw.sealed:
        return {}
    if "content" in ctx.updates:
        ctx.updates.pop("content")  # already sealed at the 250: no second copy to write
        return {}
    if is_sealed_bytes(ctx.raw.content):
        return {}  # its own bytes begin with the seal marker: stored readable they would read as sealed
    return {"content": ctx.raw.content, "mail_from": ctx.raw.mail_from, "peer": ctx.raw.peer}


def _waiting_among(session: Session, ids: list[int]) -> set[int]:
    """Which of `ids` still wait (row-locked on PostgreSQL): the batch's re-check, one query."""
    query = select(RawMessage.id).where(RawMessage.id.in_(ids), RawMessage.status == RawStatus.RECEIVED)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return set(session.scalars(query))


def _update_rows(session: Session, rows: list[dict[str, object]]) -> None:
    """The stored rows' final values: one executemany UPDATE per set of columns."""
    shapes: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for row in rows:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    for columns, values in shapes.items():
        statement = update(_RAW).where(_RAW.c.id == bindparam("b_id")).values(
            {column: bindparam(column) for column in columns if column != "b_id"})
        session.connection().execute(statement, values)


def _still_waiting(session: Session, raw_id: int) -> None:
    """Raise NotWaiting unless the message is still waiting (row-locked on PostgreSQL)."""
    query = select(RawMessage.status).where(RawMessage.id == raw_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    if session.scalar(query) is not RawStatus.RECEIVED:
        raise NotWaiting


@dataclass
class _Batch:
    """A batch written together: which of its messages still wait (checked in one query), and
    the stored rows' final values (written in one UPDATE per shape at the end)."""

    waiting: set[int]
    rows: list[dict[str, object]] = field(default_factory=list)


def write_one(session: Session, ctx: Context, isolated: bool = True, batch: _Batch | None = None) -> Outcome:
    """Inside the write transaction: re-check, each handler's `process`, one UPDATE of the row.

    `isolated`: the message has its own savepoint, and so has each side step (whose failure is
    then recorded on the case); otherwise any failure raises for the whole batch to be retried.
    With `batch`, the re-check and the row's UPDATE are the batch's (one statement each).
    """
    ctx.session = session
    if batch is None:
        _still_waiting(session, ctx.raw.id)
    elif ctx.raw.id not in batch.waiting:
        raise NotWaiting
    for handler in resolve(PIPELINES[ctx.kind]):
        if handler.side_step and isolated:
            outcomes.run_side_step(ctx, handler)
        elif handler.side_step:
            try:
                handler.process(ctx)
            except Exception as exc:  # noqa: BLE001 - written again in savepoints, recorded there
                raise _Isolate(handler.name) from exc
        else:
            guarded(handler.name, lambda: handler.process(ctx))  # noqa: B023 - called at once
        if ctx.done:
            break
    if batch is None:
        session.execute(update(_RAW).where(_RAW.c.id == ctx.raw.id).values(**_row_values(ctx)))
    else:
        batch.rows.append({**_row_values(ctx), "b_id": ctx.raw.id})
    return Outcome(ctx.raw.id, "processed", None, ctx.case.number if ctx.case else None)


def write(factory: sessionmaker[Session], settings: Settings, contexts: list[Context]) -> list[Outcome]:
    """Write computed messages in one short transaction (one durable commit for all of them).

    First all together, without a savepoint per message or per side step. Should any message
    fail (a handler's quarantine, a side step, a database error), that attempt is rolled back
    whole and the batch is written again one savepoint per message (`write_isolated`), so the
    outcome of every message is exactly what writing it alone would give.
    """
    if len(contexts) > 1:
        snapshots = [_snapshot(ctx) for ctx in contexts]
        together = _write_together(factory, contexts)
        if together is not None:
            return together
        contexts = snapshots
    return write_isolated(factory, settings, contexts)


class _Isolate(Exception):
    """A message failed while the batch was written together: write it again one by one."""


def _snapshot(ctx: Context) -> Context:
    """A copy of `ctx` as computed, before `process` changes it (for writing it again)."""
    copied = copy.copy(ctx)
    copied.updates, copied.defects = dict(ctx.updates), list(ctx.defects)
    return copied


def _write_together(factory: sessionmaker[Session], contexts: list[Context]) -> list[Outcome] | None:
    """All of `contexts` in one transaction with no savepoint; None (rolled back) if any fails."""
    done: list[Outcome] = []
    try:
        with factory() as session, session.begin():
            claim_writer(session)
            batch = _Batch(_waiting_among(session, [ctx.raw.id for ctx in contexts]))
            # Events, evidence and parties of the whole batch: one INSERT per table (`rowbuffer`).
            with holding_rows(session):
                for ctx in contexts:
                    try:
                        done.append(write_one(session, ctx, isolated=False, batch=batch))
                    except NotWaiting:
                        done.append(Outcome(ctx.raw.id, "skipped", "not waiting"))  # nothing written for it
            _update_rows(session, batch.rows)
    except (_Isolate, Quarantine, SQLAlchemyError) as exc:
        log.info("batch of %d rolled back (%s); writing it one message at a time", len(contexts),
                 exc.__class__.__name__)
        return None
    return done


def write_isolated(factory: sessionmaker[Session], settings: Settings, contexts: list[Context]) -> list[Outcome]:
    """Write computed messages in one transaction, each in its own savepoint.

    A message that fails rolls back alone: quarantined for a handler's reason, or reported as
    failed (with the database error) for the worker to retry.
    """
    if not contexts:
        return []
    done: list[Outcome] = []
    rejected: list[tuple[int, str]] = []
    with factory() as session, session.begin():
        claim_writer(session)
        for ctx in contexts:
            try:
                with session.begin_nested():
                    done.append(write_one(session, ctx, isolated=True))
            except NotWaiting:
                done.append(Outcome(ctx.raw.id, "skipped", "not waiting"))
            except Quarantine as exc:
                session.expunge_all()  # see below
                rejected.append((ctx.raw.id, redact_error(str(exc), ctx.identities())))
            except SQLAlchemyError as exc:
                # Rows written through Core in the rolled-back savepoint (a new case) are not the
                # ORM's to forget: objects are let go (everything before was flushed when the
                # savepoint began), so no later message meets a stale one.
                session.expunge_all()
                error = redact_error(f"{exc.__class__.__name__}: {exc}", ctx.identities())
                log.error("writing message %s failed: %s", ctx.raw.id, error)
                done.append(Outcome(ctx.raw.id, "failed", error[:1000], transient=isinstance(exc, OperationalError)))
    return done + [outcomes.quarantine(factory, settings, raw_id, reason) for raw_id, reason in rejected]
