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

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.orm import Session

from stopit_mail.models import Case, Event

MIN_CHARS = 3
REPORT, EVIDENCE, EVENT, CASE = range(4)
# Audit-log actions whose `text` is searchable, and how a match is labelled.
EVENT_LABELS = {"note-added": "note", "reply-received": "reply", "staff-reply-queued": "staff message"}
_EVIDENCE_LINES = ("evidence subject", "alleged sender", "file name")


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
    """(case id, field label, field text, mask addresses?) for index rows matching `query`, newest first.

    Text the reporter wrote on an anonymous case is never matched for a query with "@" (search
    must not confirm who wrote a report), and addresses in its snippets are masked.
    """
    phrase = '"' + query.replace('"', '""') + '"'
    matched = text("SELECT rowid, case_id, body FROM search_text WHERE search_text MATCH :phrase "
                   "ORDER BY rowid DESC LIMIT :n").bindparams(phrase=phrase, n=limit * 20)
    rows = session.execute(matched).all()
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
