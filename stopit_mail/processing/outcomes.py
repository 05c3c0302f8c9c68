"""What happens to a message that cannot be processed, and to a side step that fails.

A message is quarantined with a precise reason for a person to look at; if it was pre-triaged
as an emergency, the chain is paged anyway with what is known (`emergency_fallback`: the page
facts recorded at the 250, and its head only when it opens and names no anonymous reporter),
because neither a poison message nor a lost key may silence an emergency. A side step (acknowledge, route) that fails
is rolled back to its savepoint and recorded on the case; the report itself still counts as
processed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from stopit_mail import events
from stopit_mail.cases.emergency_fallback import KnownHead, page_unprocessed_emergency
from stopit_mail.cases.identity_gate import is_identifying
from stopit_mail.cases.message_head import StoredHead
from stopit_mail.cases.pretriage import EMERGENCY, PREFIX_BYTES, head_text
from stopit_mail.config import Settings
from stopit_mail.models import RawMessage, RawStatus
from stopit_mail.outbound.redact.errors import redact_error
from stopit_mail.processing.context import Context, Handler
from stopit_mail.sealing import is_sealed_bytes, open_bytes

log = logging.getLogger(__name__)
_RAW = cast(Table, RawMessage.__table__)
# A message sealed at the 250 opens only whole: the fallback opens it up to this size (one too
# big for the worker's memory is paged from its page facts alone).
FALLBACK_OPEN_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    """What happened to one message."""

    raw_id: int
    status: str  # processed | quarantined | skipped | failed (a database error; retried)
    reason: str | None = None
    case_number: str | None = None
    transient: bool = False


def run_side_step(ctx: Context, handler: Handler) -> None:
    """Run a side step in a savepoint; on failure record it on the case and carry on."""
    try:
        with ctx.session.begin_nested():
            handler.process(ctx)
    except (SQLAlchemyError, Exception) as exc:  # noqa: BLE001 - a side step never fails the report
        error = redact_error(f"{exc.__class__.__name__}: {exc}", ctx.identities())[:1000]
        log.warning("side step %s failed on message %s: %s", handler.name, ctx.raw.id, error)
        if ctx.case is not None:
            # Values written through Core in the savepoint are not the ORM's to roll back in memory.
            ctx.session.expire(ctx.case)
        events.record(ctx.session, "side-step-failed", ctx.case.id if ctx.case else None, step=handler.name,
                      raw_message_id=ctx.raw.id, error=error)


def quarantine(factory: sessionmaker[Session], settings: Settings, raw_id: int, reason: str) -> Outcome:
    """Set a waiting message aside with `reason`; page the chain if it looked like an emergency.

    The reason is recorded redacted (no address, no SQL parameters): callers that know whose
    message it is have already removed those names (`runner.identities`)."""
    reason = redact_error(reason)
    with factory() as session, session.begin():
        row = session.execute(
            update(_RAW).where(_RAW.c.id == raw_id, _RAW.c.status == RawStatus.RECEIVED.value)
            .values(status=RawStatus.QUARANTINED.value, reason=reason[:2000], claimed_until=None,
                    processed_at=datetime.now(UTC))
            .returning(_RAW.c.priority, _RAW.c.rcpt_to)).first()
        if row is None:
            return Outcome(raw_id, "skipped", "changed meanwhile")
        events.record(session, "message-quarantined", None, raw_message_id=raw_id, reason=reason[:2000])
        if row.priority >= EMERGENCY:
            _fallback(session, settings, raw_id, list(row.rcpt_to or []), reason)
    log.warning("message %s quarantined: %s", raw_id, reason)
    return Outcome(raw_id, "quarantined", reason)


def _head(session: Session, settings: Settings, raw: RawMessage) -> bytes:
    """The start of a stored message, without loading all of it: the message may be the one that
    exceeds the worker's memory budget. A message sealed at rest is opened whole, in memory, up
    to FALLBACK_OPEN_BYTES (ValueError beyond). The row's `content` is set, read-only, to what
    was read (so the identity gate reads no more of it)."""
    stored = bytes(session.scalar(select(func.substr(_RAW.c.content, 1, PREFIX_BYTES))
                                  .where(_RAW.c.id == raw.id)) or b"")
    if is_sealed_bytes(stored):
        if raw.size > FALLBACK_OPEN_BYTES:
            raise ValueError(f"sealed message of {raw.size} bytes: not opened for the fallback")
        stored = bytes(session.scalar(select(_RAW.c.content).where(_RAW.c.id == raw.id)) or b"")
    set_committed_value(raw, "content", stored)
    return open_bytes(settings, stored)


def known_head(session: Session, settings: Settings, raw_id: int) -> KnownHead:
    """What the fallback may say of a stored message: its page facts always; its subject and first
    words only when it opens and the identity gate finds it names no anonymous reporter."""
    raw = session.get(RawMessage, raw_id)
    assert raw is not None
    facts = dict(raw.page_facts or {})
    try:
        content = _head(session, settings, raw)
        subject, text = head_text(content)
        anonymous = is_identifying(session, settings, raw, StoredHead(settings, content))
    except Exception:  # noqa: BLE001 - what is known may be nothing (key lost, too big); page anyway
        return KnownHead(facts)
    return KnownHead(facts, subject, text, anonymous)


def page_if_failing_emergency(factory: sessionmaker[Session], settings: Settings, raw_id: int, attempts: int,
                              priority: int, rcpt_to: list[str]) -> None:
    """An emergency whose earlier attempt did not finish pages now, not after the last attempt."""
    if priority < EMERGENCY or attempts < 2:
        return
    with factory() as session, session.begin():
        _fallback(session, settings, raw_id, rcpt_to, f"attempt {attempts - 1} did not finish (crash or budget)")


def _fallback(session: Session, settings: Settings, raw_id: int, rcpt_to: list[str], reason: str) -> None:
    if session.scalar(select(_RAW.c.case_id).where(_RAW.c.id == raw_id)) is not None:
        return  # paged once already (an earlier attempt); nothing to open again
    org = next((o for o in (settings.organisation_for(a) for a in rcpt_to) if o is not None),
               settings.default_organisation())
    case = page_unprocessed_emergency(session, settings, org, raw_id, known_head(session, settings, raw_id),
                                      reason, datetime.now(UTC))
    session.execute(update(_RAW).where(_RAW.c.id == raw_id).values(case_id=case.id))
