"""The event log keeps the order events were recorded in, whether as objects or as plain inserts.

`events.record_all` (the hot path's plain insert) leaves changes to rows already written for the
next flush, so a case changed by several steps is updated once; but an event still pending as an
object must be written before the ones inserted after it, or the timeline would read backwards.
"""

from __future__ import annotations

from sqlalchemy import event, select

from stopit_mail import events
from stopit_mail.app import App
from stopit_mail.models import Case, Event

from casework_helpers import bare_case


def test_object_events_recorded_first_are_written_first(any_app: App) -> None:
    case_id = bare_case(any_app)
    with any_app.factory() as session, session.begin():
        events.record(session, "first", case_id)
        events.record_all(session, [events.entry("second", case_id), events.entry("third", case_id)])
        events.record(session, "fourth", case_id)
    with any_app.factory() as session:
        actions = list(session.scalars(select(Event.action).where(Event.case_id == case_id).order_by(Event.id)))
    assert actions == ["first", "second", "third", "fourth"]


def test_plain_events_leave_a_changed_case_for_one_update(any_app: App) -> None:
    case_id = bare_case(any_app)
    updates: list[str] = []
    engine = any_app.factory.kw["bind"]

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE CASES"):
            updates.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with any_app.factory() as session, session.begin():
            case = session.get(Case, case_id)
            assert case is not None
            case.urgency = "urgent"
            events.record_all(session, [events.entry("triaged", case_id)])
            case.language = "en"
            session.flush()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(updates) == 1
    with any_app.factory() as session:
        case = session.get(Case, case_id)
        assert case is not None and (case.urgency, case.language) == ("urgent", "en")
        assert session.scalar(select(Event.action).where(Event.case_id == case_id)) == "triaged"
