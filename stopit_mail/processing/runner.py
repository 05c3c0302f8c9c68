"""Run stored messages through the chain and their kind's pipeline: exactly once, or quarantined.

One message goes through three steps, and only the last holds the write lock:

1. **Claim** (`claims.py`, one short committed transaction): take the most urgent waiting
   messages (priority, then age) whose lease is free, count an attempt on each and lease them.
   The attempt is counted *before* the work, so a crash, a kill under a memory limit or an
   abandoned attempt counts too, and a message that keeps failing is quarantined instead of
   crash-looping the service.
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

import gc
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.cases.pretriage import EMERGENCY
from stopit_mail.config import Organisation, Settings
from stopit_mail.extract import mime
from stopit_mail.models import RawMessage, RawStatus
from stopit_mail.outbound.redact.errors import redact_error
from stopit_mail.processing import chain, heartbeat, outcomes
from stopit_mail.processing.claims import claim, claim_batch
from stopit_mail.processing.context import Context, Quarantine, StoredMessage
from stopit_mail.processing.limits import over_limits
from stopit_mail.processing.outcomes import Outcome
from stopit_mail.processing.pipelines import PIPELINES
from stopit_mail.processing.registry import resolve
from stopit_mail.processing.write import guarded, write
from stopit_mail.sealing import IdentityKeyError, is_sealed_bytes, open_bytes, open_envelope

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class RunsStep(Protocol):
    """Runs one step of a batch and returns what it returned (on another thread, say)."""

    def __call__(self, step: Callable[[], _T]) -> _T: ...


def run_here(step: Callable[[], _T]) -> _T:
    """Run `step` on the calling thread (a batch's default)."""
    return step()


def _organisation(settings: Settings, rcpt_to: list[str]) -> Organisation:
    for address in rcpt_to:
        org = settings.organisation_for(address)
        if org is not None:
            return org
    return settings.default_organisation()


def compute(factory: sessionmaker[Session], settings: Settings, stored: StoredMessage,
            reader: Session | None = None) -> Context:
    """Everything but the writes: limits, parse once, decide the kind, each handler's `prepare`.

    `reader`: the read session the chain uses (one per claimed batch; else one of its own)."""
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
        with nullcontext(reader) if reader is not None else factory() as session:
            ctx.session = session
            try:
                guarded("chain", lambda: setattr(ctx, "kind", chain.decide(ctx)))
            finally:
                session.rollback()  # no snapshot kept while the handlers compute
        for handler in resolve(PIPELINES[ctx.kind]):
            guarded(handler.name, lambda: handler.prepare(ctx))  # noqa: B023 - called at once
    except Quarantine as exc:
        raise Quarantine(redact_error(str(exc), ctx.identities())) from exc
    return ctx


def prepare(factory: sessionmaker[Session], settings: Settings, stored: StoredMessage,
            reader: Session | None = None) -> Context | Outcome:
    """Compute one claimed message, or the outcome when it cannot be processed."""
    try:
        if stored.attempts > settings.limits.max_attempts:
            raise Quarantine(f"gave up after {stored.attempts - 1} attempts that did not finish "
                             "(crash, time budget or memory budget)")
        if stored.unreadable:
            raise Quarantine(stored.unreadable)
        outcomes.page_if_failing_emergency(factory, settings, stored.id, stored.attempts, stored.priority,
                                           stored.rcpt_to)
        return compute(factory, settings, stored, reader)
    except Quarantine as exc:
        reason, out_of_memory = str(exc), isinstance(exc.__cause__, MemoryError)
    # Quarantined outside the except block: the exception's traceback holds the frames of the
    # failed step, and with them a message too big for the memory budget; writing the quarantine
    # while they are alive failed with MemoryError in turn, and the message was retried forever.
    if out_of_memory:
        gc.collect()
    return outcomes.quarantine(factory, settings, stored.id, reason)


def run(factory: sessionmaker[Session], settings: Settings, stored: StoredMessage) -> Outcome:
    """Process one claimed message; never raises for bad input."""
    prepared = prepare(factory, settings, stored)
    if isinstance(prepared, Outcome):
        return prepared
    return write(factory, settings, [prepared])[0]


def process_batch(factory: sessionmaker[Session], settings: Settings, size: int,
                  exclude: frozenset[int] = frozenset(),
                  on_claim: Callable[[StoredMessage], None] | None = None,
                  pace: Callable[[bool], None] | None = None,
                  at_base: RunsStep = run_here) -> list[Outcome]:
    """Claim up to `size` messages at once, compute them one by one, then write them in one transaction.

    The claim (`claims.claim_batch`) takes what is waiting now, of the most urgent level only,
    and never waits for more; a message tried before comes alone, so a crash only counts
    against its batch-mates once. `on_claim` learns each message as its work starts (the
    worker's time budget watches the last one); `pace(urgent)` is called before the write (the
    worker leaves the SQLite write lock to the listener during a flood). The chain's reads share
    one read session for the batch.

    `at_base` runs the claim and the write, and the whole work of a batch of emergencies, when
    the caller lowered this thread's CPU priority for a flood (the worker's `flood_nice`): a
    thread holding the write lock must never be the starved one (the listener would wait on it),
    and an emergency is never computed at the lowered priority.
    """
    claimed = at_base(lambda: claim_batch(factory, settings, size, exclude))
    urgent = any(stored.priority >= EMERGENCY for stored in claimed)
    with factory() as reader:
        ready, finished = (at_base if urgent else run_here)(
            lambda: _compute_all(factory, settings, claimed, reader, on_claim))
    if pace is not None and ready:
        pace(urgent or emergency_waiting(factory))
    return finished + at_base(lambda: write(factory, settings, ready))


def _compute_all(factory: sessionmaker[Session], settings: Settings, claimed: list[StoredMessage],
                 reader: Session, on_claim: Callable[[StoredMessage], None] | None,
                 ) -> tuple[list[Context], list[Outcome]]:
    """Compute each claimed message in turn: those ready to write, and those already finished."""
    ready: list[Context] = []
    finished: list[Outcome] = []
    for index, stored in enumerate(claimed):
        if on_claim is not None:
            on_claim(stored)
        try:
            prepared = prepare(factory, settings, stored, reader)
        except (SQLAlchemyError, MemoryError):
            # The database failed (or memory ran out) outside a handler: the caller releases the
            # messages it was told of; the batch-mates not started yet are released here, so
            # they are retried at once instead of after their lease.
            for later in claimed[index + 1:]:
                heartbeat.release_lease(factory, later.id)
            raise
        if isinstance(prepared, Outcome):
            finished.append(prepared)
        else:
            ready.append(prepared)
    return ready, finished


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
