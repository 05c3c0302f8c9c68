"""The worker runs retention by itself: at most once an hour, on the app's clock, audited as the system.

`stopit retention run` is for an administrator in a hurry; an installation where nobody types
it must still purge on schedule. The clock here is the app's, moved by hand, so weeks pass in
a few turns of a real worker on a real database (SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.events import SYSTEM_ACTOR
from stopit_mail.models import Case, Event
from stopit_mail.processing.worker import Worker

from casework_helpers import ingest, report
from factories import cli


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _closed_case(app: App) -> str:
    ingest(app, report(reporter="ana.lopez@example.edu", name="Ana Lopez", wrapper="He keeps calling me names."))
    with app.factory() as session:
        number = session.scalars(select(Case.number).order_by(Case.id.desc())).one()
    config = app.settings.base_dir / "stopit.toml"
    cli(config, "--as", "Pat", "cases", "close", number, "--outcome", "resolved-notice", "--resolution", "stopped")
    return number


def _events(app: App, number: str) -> list[tuple[str, str, bool]]:
    with app.factory() as session:
        case_id = session.scalars(select(Case.id).where(Case.number == number)).one()
        return [(e.action, e.actor, e.automatic) for e in session.scalars(
            select(Event).where(Event.case_id == case_id, Event.action.like("retention-%")).order_by(Event.id))]


def test_the_worker_warns_then_purges_on_schedule_at_most_once_an_hour(any_app: App) -> None:
    app = any_app
    retention = app.settings.organisations[0].retention
    retention.closed_days, retention.warning_days = 30, 7
    number = _closed_case(app)
    clock = Clock()
    start = clock.now
    app.clock = clock
    worker = Worker(app, idle_seconds=0)
    try:
        clock.now = start + timedelta(days=24)
        worker.run_once()
        assert worker.retention.runs == 1
        assert _events(app, number) == [("retention-warning", SYSTEM_ACTOR, True)]
        # Many turns within the hour: no further run (the check is a comparison, not a query).
        for minutes in (1, 20, 59):
            clock.now = start + timedelta(days=24, minutes=minutes)
            worker.run_once()
        assert worker.retention.runs == 1
        # Due on day 30, warned on day 24: the purge waits until day 31.
        clock.now = start + timedelta(days=30, hours=12)
        worker.run_once()
        assert worker.retention.runs == 2 and [a for a, _, _ in _events(app, number)] == ["retention-warning"]
        clock.now = start + timedelta(days=31, hours=1)
        worker.run_once()
        assert _events(app, number) == [("retention-warning", SYSTEM_ACTOR, True),
                                        ("retention-purged", SYSTEM_ACTOR, True)]
    finally:
        worker.stop()
    with app.factory() as session:
        case = session.scalars(select(Case).where(Case.number == number)).one()
        assert case.purged_at is not None and case.reports == [] and case.evidence == []


def test_the_worker_does_nothing_when_no_organisation_has_a_rule(app: App) -> None:
    number = _closed_case(app)
    clock = Clock()
    app.clock = clock
    worker = Worker(app, idle_seconds=0)
    try:
        clock.now += timedelta(days=4000)
        worker.run_once()
    finally:
        worker.stop()
    assert worker.retention.runs == 0 and _events(app, number) == []


def test_a_held_case_is_never_purged_by_the_worker(app: App) -> None:
    app.settings.organisations[0].retention.closed_days = 30
    number = _closed_case(app)
    cli(app.settings.base_dir / "stopit.toml", "--as", "Pat", "cases", "hold", number, "--reason",
        "litigation hold, counsel ref 44")
    clock = Clock()
    app.clock = clock
    worker = Worker(app, idle_seconds=0)
    try:
        for day in (10, 25, 40, 400):
            clock.now += timedelta(days=day)
            worker.run_once()
    finally:
        worker.stop()
    assert worker.retention.runs == 4 and _events(app, number) == []
