"""Find cases by words: titles, reports, evidence subjects and bodies, senders, staff notes.

Search respects two boundaries. Organisation: only cases the actor may see are searched.
Anonymity: a reporter's address and name are searched only on cases that are not anonymous
(for anonymous cases they are sealed and the columns are empty anyway), and for anonymous cases
a query containing "@" does not search the text the reporter wrote (subject and wrapper), and
addresses in snippets of that text are masked, so search cannot confirm who wrote a report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, String, func, literal_column, select, true
from sqlalchemy.orm import Session

from stopit_mail.cases import fulltext
from stopit_mail.cases.queries import visible_to
from stopit_mail.cases.staff import Actor
from stopit_mail.models import Case, Event, Evidence, Report

SNIPPET_CONTEXT = 40
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
MASK = "[address hidden]"


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    return func.lower(column).contains(text.lower(), autoescape=True)


def snippet(value: str, pattern: re.Pattern[str], mask_addresses: bool = False) -> str:
    """The first match in `value` with some context either side, on one line."""
    if mask_addresses:
        value = _ADDRESS.sub(MASK, value)
    found = pattern.search(value)
    if found is None:
        return ""
    start, end = max(0, found.start() - SNIPPET_CONTEXT), min(len(value), found.end() + SNIPPET_CONTEXT)
    text = " ".join(value[start:end].split())
    return ("…" if start else "") + text + ("…" if end < len(value) else "")


def _field_queries(text: str, actor: Actor | None) -> Iterable[tuple[str, Select[Any, Any, Any], bool]]:
    """(field label, query of (case id, anonymous, value), value written by the reporter?)."""
    seen = visible_to(actor)
    yield "title", select(Case.id, Case.anonymous, Case.title).where(seen, _contains(Case.title, text)), False
    yield "number", select(Case.id, Case.anonymous, Case.number).where(seen, _contains(Case.number, text)), False
    report_cols = (Report.case_id, Case.anonymous)
    from_reports = select(*report_cols).join(Case, Case.id == Report.case_id).where(seen)
    # Text the reporter wrote: never searched for an address on anonymous cases.
    authored = Case.anonymous.is_(False) if "@" in text else true()
    yield "report subject", from_reports.add_columns(Report.subject).where(
        authored, _contains(Report.subject, text)), True
    yield "report text", from_reports.add_columns(Report.wrapper_text).where(
        authored, _contains(Report.wrapper_text, text)), True
    for label, column in (("reporter", Report.reporter_address), ("reporter name", Report.reporter_name)):
        yield label, from_reports.add_columns(column).where(
            Case.anonymous.is_(False), _contains(column, text)), False
    evidence_cols = (Evidence.case_id, Case.anonymous)
    from_evidence = select(*evidence_cols).join(Case, Case.id == Evidence.case_id).where(seen)
    for label, column in (("evidence subject", Evidence.orig_subject), ("evidence body", Evidence.body_text),
                          ("alleged sender", Evidence.orig_from_address),
                          ("alleged sender name", Evidence.orig_from_name), ("file name", Evidence.filename)):
        yield label, from_evidence.add_columns(column).where(_contains(column, text)), False


def _search_by_like(session: Session, text: str, pattern: re.Pattern[str], actor: Actor | None, limit: int,
                    add: Callable[[int, str, str, bool], None]) -> None:
    """Substring search with LIKE: PostgreSQL (trigram indexes) and queries too short for FTS."""
    for label, query, authored in _field_queries(text, actor):
        for case_id, anonymous, value in session.execute(query.limit(limit * 20)):
            add(case_id, label, value or "", authored and anonymous)
    # Notes and replies live in the audit log's JSON detail, matched in the database (on
    # PostgreSQL through the trigram index on the same expression, migration 0013).
    said_text = _said_text(session)
    said = select(Event.case_id, Event.action, said_text).join(Case, Case.id == Event.case_id).where(
        visible_to(actor), Event.action.in_(list(fulltext.EVENT_LABELS)), _contains(said_text, text))
    for case_id, action, value in session.execute(said.limit(limit * 20)):
        if case_id is not None and pattern.search(value or ""):
            add(case_id, fulltext.EVENT_LABELS[action], value or "", False)


def _said_text(session: Session) -> ColumnElement[str]:
    """The `text` of an event's JSON detail, written as the PostgreSQL index's expression."""
    if session.get_bind().dialect.name == "postgresql":
        return literal_column("(events.detail ->> 'text')", String)
    return func.json_extract(Event.detail, "$.text")


def search_cases(session: Session, text: str, actor: Actor | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Cases matching `text` (case-insensitive substring), newest first, with where and a snippet."""
    text = " ".join(text.split())
    if not text:
        return []
    pattern = re.compile(re.escape(text).replace(r"\ ", r"\s+"), re.IGNORECASE)
    hits: dict[int, list[dict[str, str]]] = {}

    def add(case_id: int, label: str, value: str, mask: bool) -> None:
        matches = hits.setdefault(case_id, [])
        if all(m["field"] != label for m in matches):
            matches.append({"field": label, "snippet": snippet(value, pattern, mask)})

    if fulltext.usable(session, text):
        for case_id, label, value, mask in fulltext.search(session, text, pattern, visible_to(actor), limit):
            add(case_id, label, value, mask)
    else:
        _search_by_like(session, text, pattern, actor, limit, add)
    if not hits:
        return []
    cases = list(session.scalars(select(Case).where(Case.id.in_(hits)).order_by(Case.id.desc()).limit(limit)))
    merged_ids = {c.merged_into_id for c in cases if c.merged_into_id is not None}
    targets = dict(session.execute(select(Case.id, Case.number).where(Case.id.in_(merged_ids))).all())
    return [{
        "number": case.number, "status": case.status.value, "urgency": case.urgency,
        "organisation": case.organisation, "title": case.title,
        "opened_at": case.opened_at.isoformat() if case.opened_at else None,
        "merged_into": targets.get(case.merged_into_id) if case.merged_into_id else None,
        "matches": hits[case.id],
    } for case in cases]
