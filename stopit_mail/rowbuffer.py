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

Column updates of rows the ORM holds as objects (a case's triage, its language) are written the
same way (`write_through`): the object takes the values as committed, so nothing is left for the
ORM to flush, and the UPDATE is held, merged per row, and sent as one executemany per table and
set of columns. Held updates go out before any statement touching their table and before any ORM
flush, so an ORM change made later to the same row lands after them, as it would have.

Sessions without a buffer (everything but the worker's batch) insert and update at once, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, TextClause, bindparam, event, insert, update
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import Insert
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
        # The INSERT of a table whose rows are not inserted plainly (one that skips taken keys).
        self.inserts: dict[str, Insert] = {}
        # Column values to write, by table and row id (merged: the last value of a column wins).
        self.updates: dict[str, tuple[Table, dict[int, dict[str, Any]]]] = {}
        # The objects they were set on, kept alive so the session's identity map keeps them: a
        # query loading one of those rows again then returns the object with the held values.
        self.objects: list[Any] = []

    def add(self, table: Table, rows: list[dict[str, Any]], statement: Insert | None = None) -> None:
        """Hold `rows` for `table`, to be inserted by `statement` (by default a plain INSERT).

        A table's held rows share one statement (they are sent as one executemany)."""
        if self.inserts.get(table.name) is not statement and table.name in self.rows:
            raise ValueError(f"rows of {table.name} held for another INSERT")
        if statement is not None:
            self.inserts[table.name] = statement
        self.rows.setdefault(table.name, (table, []))[1].extend(rows)

    def update(self, table: Table, row_id: int, values: dict[str, Any]) -> None:
        """Hold an UPDATE of `values` on the row of `table` with this id."""
        self.updates.setdefault(table.name, (table, {}))[1].setdefault(row_id, {}).update(values)

    def tables(self) -> set[str]:
        """The names of the tables with held rows or updates."""
        return self.rows.keys() | self.updates.keys()

    def held(self, table: Table) -> list[dict[str, Any]]:
        """The rows held for `table` (not yet in the database)."""
        found = self.rows.get(table.name)
        return found[1] if found else []

    def flush(self, session: Session, only: frozenset[str] | None = None) -> None:
        """Insert the held rows, one statement per table (and per set of columns), then send the
        held updates, one statement per table and set of columns: of every table, or `only` of
        these (the rest stay held)."""
        pending, self.rows = _split(self.rows, only)
        inserts, self.inserts = _split(self.inserts, only)
        updates, self.updates = _split(self.updates, only)
        if not pending and not updates:
            return
        connection = session.connection()
        for name, (table, rows) in pending.items():
            statement = inserts.get(name)
            if statement is None:
                statement = insert(table)
            # One statement per run of rows with the same columns, so the order stays as added.
            start = 0
            for end in range(1, len(rows) + 1):
                if end == len(rows) or rows[end].keys() != rows[start].keys():
                    connection.execute(statement, rows[start:end])
                    start = end
        for table, by_id in updates.values():
            shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row_id, values in by_id.items():
                shapes.setdefault(tuple(sorted(values)), []).append({**values, "b_id": row_id})
            for columns, rows in shapes.items():
                connection.execute(update(table).where(table.c.id == bindparam("b_id"))
                                   .values({column: bindparam(column) for column in columns}), rows)


def _split(held: dict[str, Any], only: frozenset[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what to write now, what stays held) of a table-keyed dict."""
    if only is None:
        return held, {}
    return ({name: v for name, v in held.items() if name in only},
            {name: v for name, v in held.items() if name not in only})


def buffer_of(session: Session) -> RowBuffer | None:
    """The session's buffer, when it holds rows back (the worker's batch)."""
    found: RowBuffer | None = session.info.get(_KEY)
    return found


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]], statement: Insert | None = None) -> None:
    """Insert `rows` into `table` (by `statement`, by default a plain INSERT): held in the
    session's buffer if it has one, else at once."""
    if not rows:
        return
    buffer = buffer_of(session)
    if buffer is None:
        session.execute(insert(table) if statement is None else statement, rows)
    else:
        buffer.add(table, rows, statement)


def write_through(session: Session, obj: Any, values: dict[str, Any]) -> None:
    """Set column `values` on a persistent ORM object (attribute names are its table's column
    names) and write them with Core: held in the session's buffer if it has one, else at once.

    The object takes the values as loaded, so it reads them back at once and the ORM has no
    change of its own to flush for them."""
    for key, value in values.items():
        set_committed_value(obj, key, value)
    table: Table = obj.__table__
    buffer = buffer_of(session)
    if buffer is None:
        session.execute(update(table).where(table.c.id == obj.id).values(values))
    else:
        buffer.update(table, obj.id, values)
        buffer.objects.append(obj)


@contextmanager
def holding_rows(session: Session) -> Iterator[RowBuffer]:
    """Hold inserted rows and updates back in `session` until the block ends (then write them)."""
    buffer = RowBuffer()
    session.info[_KEY] = buffer
    event.listen(session, "do_orm_execute", _before_execute)
    event.listen(session, "before_flush", _before_flush)
    try:
        yield buffer
        buffer.flush(session)
    finally:
        event.remove(session, "do_orm_execute", _before_execute)
        event.remove(session, "before_flush", _before_flush)
        session.info.pop(_KEY, None)


def _before_execute(state: ORMExecuteState) -> None:
    """Write the held rows first when the statement touches one of their tables."""
    buffer = buffer_of(state.session)
    if buffer is None or not (buffer.rows or buffer.updates) or state.execution_options.get(HELD_ROWS_SEEN):
        return
    tables = _tables_of(state.statement)
    if tables is None:
        buffer.flush(state.session)  # plain SQL may read anything
    elif tables & buffer.tables():
        buffer.flush(state.session, tables)


def _before_flush(session: Session, *_: object) -> None:
    """Write the held updates before the ORM writes its own changes (a later change to the same
    row must land after them)."""
    buffer = buffer_of(session)
    if buffer is not None and buffer.updates:
        buffer.flush(session)


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
