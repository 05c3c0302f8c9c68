"""The SQLite full-text index behind `cases search` (FTS5, trigram tokenizer).

Migration 0010 creates `search_text` and the triggers that keep it current: one row per report,
evidence item, note or reply, and case (number and title), whose rowid is the source row's id
times 4 plus 0, 1, 2 or 3. Trigrams give the case-insensitive substring matching that search
has always had, through an index, so a million cases answer in milliseconds instead of a scan.
PostgreSQL keeps the LIKE queries, served by pg_trgm indexes. Queries under three characters
cannot use trigrams and fall back to LIKE.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import ColumnElement, Connection, select, text
from sqlalchemy.orm import Session

from stopit_mail.models import Case, Event

MIN_CHARS = 3
REPORT, EVIDENCE, EVENT, CASE = range(4)
# Audit-log actions whose `text` is searchable, and how a match is labelled.
EVENT_LABELS = {"note-added": "note", "reply-received": "reply", "staff-reply-queued": "staff message"}
_EVIDENCE_LINES = ("evidence subject", "alleged sender", "file name")


# SQLite: one FTS5 table with the trigram tokenizer (case-insensitive substring search, as
# `cases search` always did, but through an index). Triggers keep it current whichever layer
# writes (ORM or Core, pipeline or merge or purge). The rowid says where a row came from:
# id * 4 + 0 report, + 1 evidence, + 2 event (notes and replies), + 3 case (title and number).
# A reporter's address and name are indexed only when not sealed (anonymous reports keep them
# out of every table, this one included).
# Each body is written once with `{r}` standing for the row: `new.` in a trigger, nothing in the backfill.
_REPORT_BODY = ("coalesce({r}subject, '') || char(10) || coalesce({r}wrapper_text, '') || char(10) || "
                "CASE WHEN {r}sealed_identity IS NULL THEN coalesce({r}reporter_address, '') || ' ' || "
                "coalesce({r}reporter_name, '') ELSE '' END")
_EVIDENCE_BODY = ("coalesce({r}orig_subject, '') || char(10) || coalesce({r}orig_from_name, '') || ' ' || "
                  "coalesce({r}orig_from_address, '') || char(10) || coalesce({r}filename, '') || char(10) || "
                  "coalesce({r}body_text, '')")
_EVENT_BODY = "coalesce(json_extract({r}detail, '$.text'), '')"
_EVENT_WHEN = "{r}action IN ('note-added', 'reply-received', 'staff-reply-queued')"
_CASE_BODY = "coalesce({r}number, '') || char(10) || coalesce({r}title, '')"
SOURCES = (  # table, rowid offset, body, condition, case id column
    ("reports", 0, _REPORT_BODY, "1", "case_id"),
    ("evidence", 1, _EVIDENCE_BODY, "1", "case_id"),
    ("events", 2, _EVENT_BODY, _EVENT_WHEN, "case_id"),
    ("cases", 3, _CASE_BODY, "1", "id"),
)
SEARCHED_TABLES = tuple(source[0] for source in SOURCES)


def _rows(offset: int, body: str, case_id: str, r: str) -> str:
    """SELECT (rowid, body, case_id) for one source; `r` is the row prefix ('new.' or '')."""
    return f"SELECT {r}id * 4 + {offset}, {body.format(r=r)}, {r}{case_id}"


def _triggers(table: str, offset: int, body: str, when: str, case_id: str) -> list[str]:
    insert = (f"INSERT INTO search_text(rowid, body, case_id) {_rows(offset, body, case_id, 'new.')} "
              f"WHERE {when.format(r='new.')};")
    delete = f"DELETE FROM search_text WHERE rowid = old.id * 4 + {offset};"
    # A case row changes often (status, urgency); only its number and title are indexed.
    of = " OF number, title" if table == "cases" else ""
    return [f"CREATE TRIGGER IF NOT EXISTS search_{table}_ai AFTER INSERT ON {table} BEGIN {insert} END",
            f"CREATE TRIGGER IF NOT EXISTS search_{table}_au AFTER UPDATE{of} ON {table} BEGIN {delete} {insert} END",
            f"CREATE TRIGGER IF NOT EXISTS search_{table}_ad AFTER DELETE ON {table} BEGIN {delete} END"]


def backfill_statements() -> list[str]:
    """Refill the whole index from the tables (after a bulk load, or when triggers were lost)."""
    return ["DELETE FROM search_text"] + [
        f"INSERT INTO search_text(rowid, body, case_id) {_rows(offset, body, case_id, '')} "
        f"FROM {table} WHERE {when.format(r='')}" for table, offset, body, when, case_id in SOURCES]


def search_index_statements() -> list[str]:
    """Create the index, its triggers, and fill it (SQLite)."""
    create = "CREATE VIRTUAL TABLE IF NOT EXISTS search_text USING fts5(body, case_id UNINDEXED, tokenize='trigram')"
    return [create, *[t for source in SOURCES for t in _triggers(*source)], *backfill_statements()]


def ensure_search_index(connection: Connection) -> bool:
    """Re-create the index's triggers if a migration lost them, and refill it; True if it had to.

    On SQLite, Alembic's batch mode rebuilds a table to change a column, and the rebuilt
    table has no triggers: from then on the index would silently miss new rows. Run after
    every upgrade, this finds that in one query and repairs it.
    """
    if connection.dialect.name != "sqlite":
        return False
    expected = {f"search_{table}_{suffix}" for table in SEARCHED_TABLES for suffix in ("ai", "au", "ad")}
    present = set(connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'search_%'").scalars())
    has_table = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE name = 'search_text'").first() is not None
    if has_table and expected <= present:
        return False
    for statement in search_index_statements():
        connection.exec_driver_sql(statement)
    return True


def usable(session: Session, query: str) -> bool:
    """Whether this query can go through the index (SQLite with migration 0010, 3+ characters)."""
    if len(query) < MIN_CHARS or session.get_bind().dialect.name != "sqlite":
        return False
    return session.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'search_text'")).first() is not None


def _label(source: int, body: str, pattern: re.Pattern[str]) -> tuple[str, str]:
    """(field label, the matching field's text) from the concatenated body of an index row."""
    lines = body.split("\n")
    if source == CASE:
        return ("number", lines[0]) if pattern.search(lines[0]) else ("title", "\n".join(lines[1:]))
    if source == EVENT:
        return "said", body
    if source == REPORT:
        subject, middle, reporter = lines[0], "\n".join(lines[1:-1]), lines[-1]
        if pattern.search(subject):
            return "report subject", subject
        if pattern.search(middle):
            return "report text", middle
        return "reporter", reporter
    for index, label in enumerate(_EVIDENCE_LINES):
        if index < len(lines) and pattern.search(lines[index]):
            return label, lines[index]
    return "evidence body", "\n".join(lines[len(_EVIDENCE_LINES):])


def search(session: Session, query: str, pattern: re.Pattern[str], visible: ColumnElement[bool],
           limit: int) -> Iterator[tuple[int, str, str, bool]]:
    """(case id, field label, field text, mask addresses?) for index rows matching `query`,
    enough to name the newest `limit` matching cases.

    Each kind of row (reports, evidence, notes and replies, cases) is walked newest first on its
    own: an index row's rowid is its source row's id times four, and the tables' ids grow at
    different rates (a case writes several events), so one walk down the rowids would put notes
    on old cases before this week's reports. A kind's walk stops once the rows left to it
    belong to cases older than the `limit` newest found so far (or at its share of rows).

    Text the reporter wrote on an anonymous case is never matched for a query with "@" (search
    must not confirm who wrote a report), and addresses in its snippets are masked.
    """
    phrase = '"' + query.replace('"', '""') + '"'
    read: list[tuple[int, int]] = []  # rowid ranges already read, shared: the walks' bands overlap
    walks = [_Walk(session, phrase, table, limit, read) for table in SEARCHED_TABLES]
    found: set[int] = set()
    while walks := [walk for walk in walks if walk.open]:
        for walk in walks:
            for hit in _hits(session, walk.next_band(), query, pattern, visible):
                found.add(hit[0])
                yield hit
        if len(found) >= limit:
            oldest_wanted = sorted(found, reverse=True)[limit - 1]
            for walk in walks:
                walk.close_below(oldest_wanted)


class _Walk:
    """One table's index rows, newest source ids first, in growing bands of ids.

    A band holds every kind's rows with those ids (a rowid range is what FTS5 can seek to),
    all of them real matches. At most `limit` * 40 rows in all: FTS5 finds the next match of
    common words only by walking them, so asking for every match costs seconds at a million
    cases, while the newest few hundred hold the page wanted.
    """

    def __init__(self, session: Session, phrase: str, table: str, limit: int, read: list[tuple[int, int]]) -> None:
        self.session, self.phrase, self.table, self.read = session, phrase, table, read
        top = session.execute(text(f"SELECT max(id) FROM {table}")).scalar()
        self.high, self.width, self.budget = int(top or 0), limit * 2, limit * 40

    @property
    def open(self) -> bool:
        return self.high > 0 and self.budget > 0

    def next_band(self) -> list[Any]:
        low = max(0, self.high - self.width)
        rows: list[Any] = []
        for first, last in _unread(self.read, (low + 1) * 4, self.high * 4 + 3):
            wanted = self.budget - len(rows)
            band = list(self.session.execute(text(
                "SELECT rowid, case_id, body FROM search_text WHERE search_text MATCH :phrase "
                "AND rowid BETWEEN :first AND :last ORDER BY rowid DESC LIMIT :n").bindparams(
                phrase=self.phrase, first=first, last=last, n=wanted)))
            rows += band
            # Cut short by the budget, the range was read only down to its last row.
            self.read.append((band[-1][0] if len(band) == wanted else first, last))
            if len(rows) >= self.budget:
                break
        self.budget -= len(rows)
        self.high, self.width = low, self.width * 4
        return rows

    def close_below(self, case_id: int) -> None:
        """Stop when the rows left (ids up to `high`) belong to cases older than `case_id`.

        Rows are written after their case, so the newest row left names about the newest case
        any of them can belong to.
        """
        newest_left = self.session.execute(text(
            f"SELECT case_id FROM {self.table} WHERE id <= :high AND case_id IS NOT NULL "
            "ORDER BY id DESC LIMIT 1").bindparams(high=self.high)).scalar() if self.table != "cases" else self.high
        if newest_left is None or newest_left < case_id:
            self.high = 0


def _unread(read: list[tuple[int, int]], first: int, last: int) -> list[tuple[int, int]]:
    """The parts of rowids first..last, highest first, that no range in `read` covers."""
    gaps, top = [], last
    for done_first, done_last in sorted(read, key=lambda r: -r[1]):
        if done_last < first or top < first:
            break
        if done_first > top:
            continue
        if done_last < top:
            gaps.append((done_last + 1, top))
        top = min(top, done_first - 1)
    if top >= first:
        gaps.append((first, top))
    return gaps


def _hits(session: Session, rows: list[Any], query: str, pattern: re.Pattern[str],
          visible: ColumnElement[bool]) -> Iterator[tuple[int, str, str, bool]]:
    """The real hits among index rows, on cases the reader may see (see `search`)."""
    case_ids = {case_id for _rowid, case_id, _body in rows if case_id is not None}
    allowed = dict(session.execute(select(Case.id, Case.anonymous).where(Case.id.in_(case_ids), visible)).all())
    event_ids = [rowid // 4 for rowid, _case_id, _body in rows if rowid % 4 == EVENT]
    actions = dict(session.execute(select(Event.id, Event.action).where(Event.id.in_(event_ids))).all())
    for rowid, case_id, body in rows:
        if case_id not in allowed:
            continue
        source = rowid % 4
        label, value = _label(source, body or "", pattern)
        if source == EVENT:
            label = EVENT_LABELS.get(actions.get(rowid // 4, ""), "note")
        authored = source == REPORT and label in ("report subject", "report text")
        anonymous = bool(allowed[case_id])
        if authored and anonymous and "@" in query:
            continue
        if not pattern.search(value):
            # Trigrams matched across a field boundary or with different spacing: not a real hit.
            continue
        yield case_id, label, value, authored and anonymous
