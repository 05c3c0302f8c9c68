"""Rows held back for a batch (`stopit_mail.rowbuffer`): one INSERT per table, never a stale read.

The worker writes the events, evidence and parties of a whole batch of messages with one
statement per table. Holding them must not change what any read in the batch sees, nor the
event log's order, and a rolled-back batch leaves nothing behind.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from stopit_mail import events
from stopit_mail.app import App
from stopit_mail.models import Event, RawMessage
from stopit_mail.rowbuffer import buffer_of, holding_rows

from casework_helpers import bare_case


def _inserts_into_events(app: App) -> list[str]:
    """The INSERT INTO events statements sent to the database from now on (a live list)."""
    sent: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO EVENTS"):
            sent.append(statement)

    event.listen(app.factory.kw["bind"], "before_cursor_execute", seen)
    return sent


def test_held_events_are_inserted_once_in_their_order(any_app: App) -> None:
    case_id = bare_case(any_app)
    sent = _inserts_into_events(any_app)
    with any_app.factory() as session, session.begin(), holding_rows(session):
        events.record(session, "first", case_id)
        events.record_all(session, [events.entry("second", case_id), events.entry("third", case_id)])
        events.record(session, "fourth", case_id, actor="staff-x", automatic=False)
        # A read of another table does not write them.
        assert session.scalar(select(func.count(RawMessage.id))) == 0
        assert sent == []
    assert len(sent) == 1
    with any_app.factory() as session:
        rows = session.execute(select(Event.action, Event.actor).where(Event.case_id == case_id).order_by(Event.id))
        assert [tuple(r) for r in rows] == [("first", "stopit"), ("second", "stopit"), ("third", "stopit"),
                                           ("fourth", "staff-x")]


def test_a_read_of_a_held_table_sees_the_held_rows(any_app: App) -> None:
    case_id = bare_case(any_app)
    with any_app.factory() as session, session.begin(), holding_rows(session):
        events.record_all(session, [events.entry("report-filed", case_id)])
        # Core, ORM and lazy reads alike: the rows are inserted first, as autoflush would.
        assert session.scalar(select(func.count()).select_from(Event).where(Event.case_id == case_id)) == 1
        events.record(session, "triaged", case_id)
        assert [e.action for e in session.scalars(select(Event).where(Event.case_id == case_id)
                                                  .order_by(Event.id))] == ["report-filed", "triaged"]


def test_a_rolled_back_batch_leaves_no_held_row(any_app: App) -> None:
    case_id = bare_case(any_app)
    sent = _inserts_into_events(any_app)
    with pytest.raises(RuntimeError), any_app.factory() as session, session.begin(), holding_rows(session):
        events.record_all(session, [events.entry("report-filed", case_id)])
        raise RuntimeError("a message of the batch failed")
    assert sent == []  # held to the end of the batch, then dropped: never sent, not sent and rolled back
    with any_app.factory() as session:
        assert session.scalar(select(func.count(Event.id)).where(Event.case_id == case_id)) == 0
    # Without `holding_rows`, a session inserts at once, as before.
    with any_app.factory() as session, session.begin():
        events.record_all(session, [events.entry("later", case_id)])
        assert buffer_of(session) is None
        assert session.scalar(select(func.count(Event.id)).where(Event.case_id == case_id)) == 1
