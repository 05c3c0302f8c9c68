"""Run stored messages through the chain and their kind's pipeline: exactly once, or quarantined.

One message goes through three steps, and only the last holds the write lock:

1. **Claim** (one short committed statement): take the most urgent waiting message (priority,
   then age) whose lease is free, count the attempt and lease it. The attempt is counted
   *before* the work, so a crash, a kill under a memory limit or an abandoned attempt counts
   too, and a message that keeps failing is quarantined instead of crash-looping the service.
2. **Compute**, outside any transaction: input limits, parse once, the chain decides the kind
   (reading the database without locking it), each handler's `prepare` (extract, trace,
   verify, triage). The listener keeps committing meanwhile.
3. **Write** (`write.py`), in one short transaction: re-check the message is still waiting (another
   processor may have finished it), each handler's `process`, then one UPDATE of the stored
   row with its status. Every effect commits together with "processed" or not at all.

A handler failure rolls back and quarantines the message with the handler's name and the
error, so a person can look and `stopit quarantine retry` it after a fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import cast

from sqlalchemy import Table, Update, bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.cases.pretriage import EMERGENCY
from stopit_mail.config import Organisation, Settings
from stopit_mail.db import relaxed_commit
from stopit_mail.extract import mime
from stopit_mail.models import RawMessage, RawStatus
from stopit_mail.outbound.redact.errors import redact_error
from stopit_mail.processing import chain, outcomes
from stopit_mail.processing.context import Context, Quarantine, StoredMessage
from stopit_mail.processing.limits import over_limits
from stopit_mail.processing.outcomes import Outcome
from stopit_mail.processing.pipelines import PIPELINES
from stopit_mail.processing.registry import resolve
from stopit_mail.processing.write import guarded, write
from stopit_mail.sealing import IdentityKeyError, is_sealed_bytes, open_bytes, open_envelope

log = logging.getLogger(__name__)
_RAW = cast(Table, RawMessage.__table__)
_CONTENT = select(_RAW.c.content).where(_RAW.c.id == bindparam("raw_id"))


def _organisation(settings: Settings, rcpt_to: list[str]) -> Organisation:
    for address in rcpt_to:
        org = settings.organisation_for(address)
        if org is not None:
            return org
    return settings.default_organisation()


def lease_for(settings: Settings) -> timedelta:
    """How long other workers leave a claimed message alone: past its time budget."""
    return timedelta(seconds=settings.limits.processing_seconds * 1.5 + 5)


def claim(factory: sessionmaker[Session], settings: Settings, raw_id: int | None = None,
          exclude: frozenset[int] = frozenset()) -> StoredMessage | None:
    """Count an attempt on, and lease, the next waiting message (or `raw_id`); None if none.

    One UPDATE ... RETURNING, committed at once; the bytes are read after it. On PostgreSQL
    the pick is FOR UPDATE SKIP LOCKED, so concurrent workers take different messages; on
    SQLite the statement takes the write lock itself. An explicit `raw_id` (an import, a
    retry) ignores another's lease: the write step's re-check still keeps it exactly once.
    """
    now = datetime.now(UTC)
    with factory() as session:
        with relaxed_commit(session):
            # On the connection: the claim is Core (no ORM step to run for it).
            row = session.connection().execute(*_claim_statement(session, settings, now, raw_id, exclude)).first()
        if row is None:
            return None
        # The bytes are read only once the attempt is counted: a message too big for the worker's
        # memory budget fails here, after the count, so it cannot crash-loop the worker uncounted.
        content, unreadable = b"", None
        if row.attempts <= settings.limits.max_attempts:
            try:
                content = session.connection().execute(_CONTENT, {"raw_id": row.id}).scalar() or b""
            except MemoryError:
                unreadable = (f"memory budget: the message ({row.size} bytes) cannot be read within "
                              "limits.worker_memory_mb")
    received_at = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
    return StoredMessage(row.id, content, row.mail_from, list(row.rcpt_to or []), received_at,
                         row.attempts, row.priority, bool(row.no_ack), unreadable, row.peer)


def _claim_statement(session: Session, settings: Settings, now: datetime, raw_id: int | None,
                     exclude: frozenset[int]) -> tuple[Update, dict[str, object]]:
    """The UPDATE ... RETURNING that counts an attempt on the next message and leases it, with
    its parameters (the statement itself is built once per shape: see `_claim_shape`)."""
    statement = _claim_shape(session.get_bind().dialect.name, raw_id is not None, bool(exclude))
    values: dict[str, object] = {"now": now, "until": now + lease_for(settings)}
    if raw_id is not None:
        values["raw_id"] = raw_id
    if exclude:
        values["exclude"] = sorted(exclude)
    return statement, values


@lru_cache(maxsize=8)
def _claim_shape(dialect: str, one: bool, excluding: bool) -> Update:
    """The claim statement with bound parameters: built (and its cache key computed) once."""
    pick = select(RawMessage.id).where(RawMessage.status == RawStatus.RECEIVED)
    if one:
        pick = pick.where(RawMessage.id == bindparam("raw_id"))
    else:
        now = bindparam("now", type_=_RAW.c.claimed_until.type)
        free = [or_(RawMessage.claimed_until.is_(None), RawMessage.claimed_until < now)]
        if excluding:
            free.append(RawMessage.id.not_in(bindparam("exclude", expanding=True)))
        # The most urgent level first, then the oldest message of that level. Two index walks
        # on (status, priority, id): ORDER BY priority DESC, id in one would sort every waiting
        # message of the top level (the whole backlog in a flood) while holding the write lock.
        top = (select(RawMessage.priority).where(RawMessage.status == RawStatus.RECEIVED, *free)
               .order_by(RawMessage.priority.desc()).limit(1).scalar_subquery())
        pick = pick.where(RawMessage.priority == top, *free).order_by(RawMessage.id).limit(1)
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return (update(_RAW).where(_RAW.c.id == pick.scalar_subquery())
            .values(attempts=_RAW.c.attempts + 1,
                    claimed_until=bindparam("until", type_=_RAW.c.claimed_until.type))
            .returning(_RAW.c.id, _RAW.c.size, _RAW.c.mail_from, _RAW.c.rcpt_to, _RAW.c.received_at,
                       _RAW.c.attempts, _RAW.c.priority, _RAW.c.no_ack, _RAW.c.peer))


def compute(factory: sessionmaker[Session], settings: Settings, stored: StoredMessage) -> Context:
    """Everything but the writes: limits, parse once, decide the kind, each handler's `prepare`."""
    try:
        # Sealed at the 250 (and kept sealed once processed anonymously): opened in memory.
        mail_from, peer = open_envelope(settings, stored.mail_from, stored.peer)
        stored = replace(stored, content=open_bytes(settings, stored.content), mail_from=mail_from, peer=peer,
                         sealed=is_sealed_bytes(stored.content))
    except IdentityKeyError as exc:
        raise Quarantine(f"sealed message cannot be opened (restore the identity key, then "
                         f"`stopit quarantine retry {stored.id}`): {exc}") from exc
    ctx = Context(settings=settings, raw=stored, organisation=_organisation(settings, stored.rcpt_to))
    reason = over_limits(stored.content, settings.limits)
    if reason:
        raise Quarantine(reason)

    def parse() -> None:
        parsed = mime.parse_bytes(stored.content)
        ctx.message = parsed.message
        ctx.defects.extend(parsed.defects)

    guarded("parse-message", parse)
    try:
        with factory() as session:
            ctx.session = session
            guarded("chain", lambda: setattr(ctx, "kind", chain.decide(ctx)))
            session.rollback()
        for handler in resolve(PIPELINES[ctx.kind]):
            guarded(handler.name, lambda: handler.prepare(ctx))  # noqa: B023 - called at once
    except Quarantine as exc:
        raise Quarantine(redact_error(str(exc), ctx.identities())) from exc
    return ctx


def prepare(factory: sessionmaker[Session], settings: Settings, stored: StoredMessage) -> Context | Outcome:
    """Compute one claimed message, or the outcome when it cannot be processed."""
    try:
        if stored.attempts > settings.limits.max_attempts:
            raise Quarantine(f"gave up after {stored.attempts - 1} attempts that did not finish "
                             "(crash, time budget or memory budget)")
        if stored.unreadable:
            raise Quarantine(stored.unreadable)
        outcomes.page_if_failing_emergency(factory, settings, stored.id, stored.attempts, stored.priority,
                                           stored.rcpt_to)
        return compute(factory, settings, stored)
    except Quarantine as exc:
        return outcomes.quarantine(factory, settings, stored.id, str(exc))


def run(factory: sessionmaker[Session], settings: Settings, stored: StoredMessage) -> Outcome:
    """Process one claimed message; never raises for bad input."""
    prepared = prepare(factory, settings, stored)
    if isinstance(prepared, Outcome):
        return prepared
    return write(factory, settings, [prepared])[0]


def process_batch(factory: sessionmaker[Session], settings: Settings, size: int,
                  exclude: frozenset[int] = frozenset(),
                  on_claim: Callable[[StoredMessage], None] | None = None,
                  pace: Callable[[bool], None] | None = None) -> list[Outcome]:
    """Claim and compute up to `size` messages one by one, then write them in one transaction.

    Claims stay one at a time (each attempt counted before its own work), so a message that
    crashes the process only ever counts against itself. An emergency ends the batch at once:
    it is written with the messages already computed, without waiting for more. `on_claim` learns each message taken (the
    worker's time budget watches it); `pace(urgent)` is called before the write (the worker
    leaves the SQLite write lock to the listener during a flood).
    """
    ready: list[Context] = []
    finished: list[Outcome] = []
    for _ in range(size):
        # Claims take the most urgent message first: an emergency stored meanwhile is the next
        # one taken, and ends the batch.
        stored = claim(factory, settings, exclude=exclude)
        if stored is None:
            break
        if on_claim is not None:
            on_claim(stored)
        prepared = prepare(factory, settings, stored)
        if isinstance(prepared, Outcome):
            finished.append(prepared)
        else:
            ready.append(prepared)
        if stored.priority >= EMERGENCY:
            break
    if pace is not None and ready:
        pace(any(ctx.raw.priority >= EMERGENCY for ctx in ready) or emergency_waiting(factory))
    return finished + write(factory, settings, ready)


def emergency_waiting(factory: sessionmaker[Session]) -> bool:
    """Whether an unclaimed message pre-triaged as an emergency waits (one probe of the claim index)."""
    now = datetime.now(UTC)
    with factory() as session:
        return session.scalar(select(RawMessage.id).where(
            RawMessage.status == RawStatus.RECEIVED, RawMessage.priority >= EMERGENCY,
            or_(RawMessage.claimed_until.is_(None), RawMessage.claimed_until < now)).limit(1)) is not None


def process_message(factory: sessionmaker[Session], settings: Settings, raw_id: int) -> Outcome:
    """Process one stored message if it is still waiting (imports, retries, tests)."""
    stored = claim(factory, settings, raw_id)
    if stored is None:
        return Outcome(raw_id, "skipped", "not waiting")
    return run(factory, settings, stored)


def waiting_ids(factory: sessionmaker[Session], limit: int = 100) -> list[int]:
    """Ids of stored messages not yet processed, most urgent first, then oldest first."""
    with factory() as session:
        return list(session.scalars(
            select(RawMessage.id).where(RawMessage.status == RawStatus.RECEIVED)
            .order_by(RawMessage.priority.desc(), RawMessage.id).limit(limit)))


def process_waiting(factory: sessionmaker[Session], settings: Settings, limit: int = 100) -> list[Outcome]:
    """Process up to `limit` waiting messages (what a worker does in a loop)."""
    return [process_message(factory, settings, raw_id) for raw_id in waiting_ids(factory, limit)]


def process_next(factory: sessionmaker[Session], settings: Settings,
                 exclude: frozenset[int] = frozenset(),
                 on_claim: Callable[[StoredMessage], None] | None = None) -> Outcome | None:
    """Claim the most urgent waiting message and process it; None when nothing is waiting."""
    done = process_batch(factory, settings, 1, exclude, on_claim)
    return done[0] if done else None


def quarantine(factory: sessionmaker[Session], settings: Settings, raw_id: int, reason: str) -> Outcome:
    """Set a waiting message aside with a reason (a worker giving up on it)."""
    return outcomes.quarantine(factory, settings, raw_id, reason)
