"""Rows of several messages inserted together: one statement per table for a whole batch.

The worker writes a claimed batch of messages in one transaction. Rows that nothing reads back
while the batch is written (the event log, evidence, parties) are held here instead of being
inserted message by message, and inserted in order, one executemany per table, before the
transaction commits: the per-statement cost (the largest part of writing a message) is paid once
per batch instead of once per message.

Holding rows back must never change what a read sees. So, like the ORM's autoflush, any
statement the session executes that touches a table with held rows inserts them first (a lazy
load or `Session.get` included); a caller that knows how to look at the held rows itself (the
search for a duplicate report, `cases.service`) says so with `HELD_ROWS_SEEN`. Everything runs
in the caller's transaction: rolled back, the held rows are dropped with it.

Sessions without a buffer (everything but the worker's batch) insert at once, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, TextClause, event, insert
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.util import find_tables

_KEY = "stopit.rowbuffer"
# Execution option of a read that looks at the held rows itself: it does not insert them first.
HELD_ROWS_SEEN = "stopit_held_rows_seen"
# The tables each statement touches, by statement (most are module constants); bounded.
_TABLES: dict[int, tuple[Any, frozenset[str] | None]] = {}
_TABLES_KEPT = 512


class RowBuffer:
    """Rows held per table, in the order they were added (the event log keeps its order)."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[Table, list[dict[str, Any]]]] = {}

    def add(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Hold `rows` for `table`."""
        self.rows.setdefault(table.name, (table, []))[1].extend(rows)

    def held(self, table: Table) -> list[dict[str, Any]]:
        """The rows held for `table` (not yet in the database)."""
        found = self.rows.get(table.name)
        return found[1] if found else []

    def flush(self, session: Session) -> None:
        """Insert every held row, one statement per table (and per set of columns)."""
        pending, self.rows = self.rows, {}
        connection = session.connection()
        for table, rows in pending.values():
            # One statement per run of rows with the same columns, so the order stays as added.
            start = 0
            for end in range(1, len(rows) + 1):
                if end == len(rows) or rows[end].keys() != rows[start].keys():
                    connection.execute(insert(table), rows[start:end])
                    start = end


def buffer_of(session: Session) -> RowBuffer | None:
    """The session's buffer, when it holds rows back (the worker's batch)."""
    found: RowBuffer | None = session.info.get(_KEY)
    return found


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` into `table`: held in the session's buffer if it has one, else at once."""
    if not rows:
        return
    buffer = buffer_of(session)
    if buffer is None:
        session.execute(insert(table), rows)
    else:
        buffer.add(table, rows)


@contextmanager
def holding_rows(session: Session) -> Iterator[RowBuffer]:
    """Hold inserted rows back in `session` until the block ends (then insert them)."""
    buffer = RowBuffer()
    session.info[_KEY] = buffer
    event.listen(session, "do_orm_execute", _before_execute)
    try:
        yield buffer
        buffer.flush(session)
    finally:
        event.remove(session, "do_orm_execute", _before_execute)
        session.info.pop(_KEY, None)


def _before_execute(state: ORMExecuteState) -> None:
    """Insert the held rows first when the statement touches one of their tables."""
    buffer = buffer_of(state.session)
    if buffer is None or not buffer.rows or state.execution_options.get(HELD_ROWS_SEEN):
        return
    tables = _tables_of(state.statement)
    if tables is None or tables & buffer.rows.keys():
        buffer.flush(state.session)


def _tables_of(statement: Any) -> frozenset[str] | None:
    """The names of the tables a statement reads or writes (cached per statement object); None
    for plain SQL, which may read anything."""
    if isinstance(statement, TextClause):
        return None
    cached = _TABLES.get(id(statement))
    if cached is not None and cached[0] is statement:
        return cached[1]
    found = find_tables(statement, check_columns=True, include_aliases=True, include_joins=True,
                        include_selects=True, include_crud=True)
    names = frozenset(t.name for t in (getattr(f, "element", f) for f in found) if isinstance(t, Table))
    if len(_TABLES) >= _TABLES_KEPT:
        _TABLES.clear()
    _TABLES[id(statement)] = (statement, names)
    return names
