"""Claims: count an attempt on waiting messages and lease them, before any work is done on them.

The attempt is counted *before* the work, so a crash, a kill under a memory limit or an
abandoned attempt counts too, and a message that keeps failing is quarantined instead of
crash-looping the service.

The worker claims a *batch*: the most urgent waiting message (priority, then age), then more
of the same priority level, in at most two statements and one short committed transaction,
and their bytes in one more read. Only messages never tried before join a batch; a message
with an earlier attempt is always claimed alone. So a poison message that crashes the process
in a batch costs its batch-mates one attempt, once: each of them is then tried alone, and only
the poison message keeps counting attempts until it is quarantined. (With
`limits.max_attempts = 1` a batch-mate could not afford that one attempt: then messages are
claimed one at a time.) A batch never waits: it takes what is waiting now. An emergency level
is claimed before anything else and batches only with emergencies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Row, Table, Update, bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.config import Settings
from stopit_mail.db import relaxed_commit
from stopit_mail.models import RawMessage, RawStatus
from stopit_mail.processing.context import StoredMessage

_RAW = cast(Table, RawMessage.__table__)
_CONTENT = select(_RAW.c.content).where(_RAW.c.id == bindparam("raw_id"))
_CONTENTS = select(_RAW.c.id, _RAW.c.content).where(_RAW.c.id.in_(bindparam("raw_ids", expanding=True)))
# Stored messages up to this size are read together in one statement (a batch of them is a few
# megabytes at most); a bigger one is read alone, so a message beyond the worker's memory
# budget fails its own read, after its own attempt was counted.
READ_TOGETHER_BYTES = 1024 * 1024


def lease_for(settings: Settings) -> timedelta:
    """How long other workers leave a claimed message alone: past its time budget."""
    return timedelta(seconds=settings.limits.processing_seconds * 1.5 + 5)


def claim(factory: sessionmaker[Session], settings: Settings, raw_id: int | None = None,
          exclude: frozenset[int] = frozenset()) -> StoredMessage | None:
    """Count an attempt on, and lease, the next waiting message (or `raw_id`); None if none.

    An explicit `raw_id` (an import, a retry) ignores another's lease: the write step's
    re-check still keeps it exactly once.
    """
    found = claim_batch(factory, settings, 1, exclude, raw_id)
    return found[0] if found else None


def claim_batch(factory: sessionmaker[Session], settings: Settings, size: int,
                exclude: frozenset[int] = frozenset(), raw_id: int | None = None) -> list[StoredMessage]:
    """Count an attempt on, and lease, up to `size` waiting messages (see the module's docstring).

    One UPDATE ... RETURNING for the most urgent message, and when it had never been tried, a
    second for up to `size - 1` more untried messages of its priority, oldest first; committed
    at once. On PostgreSQL the picks are FOR UPDATE SKIP LOCKED, so concurrent workers take
    different messages; on SQLite the first statement takes the write lock itself.
    """
    now = datetime.now(UTC)
    values: dict[str, object] = {"now": now, "until": now + lease_for(settings)}
    if exclude:
        values["exclude"] = sorted(exclude)
    with factory() as session:
        dialect = session.get_bind().dialect.name
        with relaxed_commit(session):
            # On the connection: the claim is Core (no ORM step to run for it).
            connection = session.connection()
            if raw_id is not None:
                values["raw_id"] = raw_id
            head = connection.execute(_claim_shape(dialect, raw_id is not None, bool(exclude)), values).first()
            rows = [head] if head is not None else []
            if head is not None and head.attempts == 1 and size > 1 and raw_id is None \
                    and settings.limits.max_attempts >= 2:
                more = connection.execute(_more_shape(dialect, bool(exclude)),
                                          {**values, "level": head.priority, "more": size - 1}).all()
                rows += sorted(more, key=lambda row: row.id)
        if not rows:
            return []
        # The bytes are read only once the attempts are counted: a message too big for the
        # worker's memory budget fails here, after the count, so it cannot crash-loop the
        # worker uncounted.
        return _read(session, settings, rows)


def _read(session: Session, settings: Settings, rows: list[Row[Any]]) -> list[StoredMessage]:
    """The claimed rows with their bytes: small ones in one statement, big ones one by one."""
    readable = [row for row in rows if row.attempts <= settings.limits.max_attempts]
    small = [row.id for row in readable if (row.size or 0) <= READ_TOGETHER_BYTES]
    contents: dict[int, bytes] = {}
    if len(small) > 1:
        contents = {i: c or b"" for i, c in session.connection().execute(_CONTENTS, {"raw_ids": small})}
    to_read = {row.id for row in readable}
    claimed = []
    for row in rows:
        content, unreadable = contents.get(row.id, b""), None
        if row.id not in contents and row.id in to_read:
            try:
                content = session.connection().execute(_CONTENT, {"raw_id": row.id}).scalar() or b""
            except MemoryError:
                unreadable = (f"memory budget: the message ({row.size} bytes) cannot be read within "
                              "limits.worker_memory_mb")
        received_at = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
        claimed.append(StoredMessage(row.id, content, row.mail_from, list(row.rcpt_to or []), received_at,
                                     row.attempts, row.priority, bool(row.no_ack), unreadable, row.peer))
    return claimed


def _free(excluding: bool) -> list[Any]:
    """Unleased (or lease expired), and not in the caller's `exclude`."""
    now = bindparam("now", type_=_RAW.c.claimed_until.type)
    free = [or_(RawMessage.claimed_until.is_(None), RawMessage.claimed_until < now)]
    if excluding:
        free.append(RawMessage.id.not_in(bindparam("exclude", expanding=True)))
    return free


def _counted(pick: Any) -> Update:
    """Count an attempt on, and lease, the rows `pick` selects; return what processing needs."""
    return (update(_RAW).where(pick)
            .values(attempts=_RAW.c.attempts + 1,
                    claimed_until=bindparam("until", type_=_RAW.c.claimed_until.type))
            .returning(_RAW.c.id, _RAW.c.size, _RAW.c.mail_from, _RAW.c.rcpt_to, _RAW.c.received_at,
                       _RAW.c.attempts, _RAW.c.priority, _RAW.c.no_ack, _RAW.c.peer))


@lru_cache(maxsize=8)
def _claim_shape(dialect: str, one: bool, excluding: bool) -> Update:
    """The claim of the most urgent message (or of `raw_id`), built (and its cache key computed) once."""
    pick = select(RawMessage.id).where(RawMessage.status == RawStatus.RECEIVED)
    if one:
        pick = pick.where(RawMessage.id == bindparam("raw_id"))
    else:
        free = _free(excluding)
        # The most urgent level first, then the oldest message of that level. Two index walks
        # on (status, priority, id): ORDER BY priority DESC, id in one would sort every waiting
        # message of the top level (the whole backlog in a flood) while holding the write lock.
        top = (select(RawMessage.priority).where(RawMessage.status == RawStatus.RECEIVED, *free)
               .order_by(RawMessage.priority.desc()).limit(1).scalar_subquery())
        pick = pick.where(RawMessage.priority == top, *free).order_by(RawMessage.id).limit(1)
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return _counted(_RAW.c.id == pick.scalar_subquery())


@lru_cache(maxsize=8)
def _more_shape(dialect: str, excluding: bool) -> Update:
    """The rest of a batch: up to `more` untried, free messages of priority `level`, oldest first."""
    pick = (select(RawMessage.id)
            .where(RawMessage.status == RawStatus.RECEIVED, RawMessage.priority == bindparam("level"),
                   RawMessage.attempts == 0, *_free(excluding))
            .order_by(RawMessage.id).limit(bindparam("more")))
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return _counted(_RAW.c.id.in_(pick))
