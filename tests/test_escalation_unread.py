"""No report left unread: read deadlines per urgency and hour, pages past them, end to end."""

from __future__ import annotations

import json
import smtplib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_escalation import (
    AFTER_HOURS,
    BUSINESS,
    MAILBOX,
    cli,
    contacts,
    ingest,
    make_home,
    report,
    routine_case,
    start,
    tick,
)
from test_escalation_review import with_reviewers

from stopit_mail.app import App, open_app
from stopit_mail.cases.escalation import acknowledge
from stopit_mail.cases.escalation_clock import next_business_opening, read_due
from stopit_mail.config.casework import EscalationSettings, ReadDeadlines
from stopit_mail.models import Case, Escalation, Event, OutboxMessage, ReadDeadline

from smtp_helpers import running_server, wait_until

NY = EscalationSettings(timezone="America/New_York", business_hours="08:00-17:00", business_days=[1, 2, 3, 4, 5])
# Tuesday 3 March 2026 in New York (EST, UTC-5).
TUE_10 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
TUE_07 = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
TUE_22 = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)
FRI_18 = datetime(2026, 3, 6, 23, 0, tzinfo=UTC)
WED_08 = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)
MON_08 = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # EDT from 8 March: 08:00 is 12:00 UTC


@pytest.mark.parametrize(("urgency", "opened", "due"), [
    ("possible-emergency", TUE_10, TUE_10 + timedelta(minutes=10)),
    ("emergency", TUE_22, TUE_22 + timedelta(minutes=10)),
    ("urgent", TUE_10, TUE_10 + timedelta(hours=1)),
    ("routine", TUE_10, WED_08 + timedelta(hours=1)),     # the next business morning
    ("routine", TUE_07, TUE_10 - timedelta(hours=1)),     # before opening: this morning, 09:00
    ("routine", TUE_22, WED_08 + timedelta(hours=1)),
    ("routine", FRI_18, MON_08 + timedelta(hours=1)),     # over the weekend and the clock change
    ("something-new", TUE_10, TUE_10 + timedelta(hours=1)),  # unknown urgencies are treated as urgent
])
def test_read_deadline_follows_urgency_and_business_hours(urgency: str, opened: datetime, due: datetime) -> None:
    assert read_due(NY, urgency, opened) == due


def test_after_hours_deadlines_apply_outside_business_hours() -> None:
    settings = EscalationSettings(timezone="America/New_York",
                                  read_deadlines=ReadDeadlines(urgent="1h", urgent_after_hours="next-business-morning"))
    assert read_due(settings, "urgent", TUE_10) == TUE_10 + timedelta(hours=1)
    assert read_due(settings, "urgent", TUE_22) == WED_08
    assert next_business_opening(settings, WED_08) == WED_08 + timedelta(days=1)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    app = open_app(make_home(tmp_path, BUSINESS, AFTER_HOURS))
    yield app
    app.close()


def unread_pages(app: App) -> list[Escalation]:
    with app.factory() as session:
        return list(session.scalars(select(Escalation).where(Escalation.kind == "unread")))


def number_of(app: App, case_id: int) -> str:
    with app.factory() as session:
        return session.get(Case, case_id).number  # type: ignore[union-attr]



@pytest.fixture
def any_app(tmp_path: Path, any_db_url: str) -> Iterator[App]:
    """The installation on SQLite, and on PostgreSQL when the CI provides one."""
    app = open_app(make_home(tmp_path, BUSINESS, AFTER_HOURS, database_url=any_db_url))
    yield app
    app.close()


def test_an_unread_report_past_its_deadline_pages_the_chain_once(tmp_path: Path, any_app: App) -> None:
    app = any_app
    case_id = routine_case(app)
    with app.factory() as session:
        opened = session.get(Case, case_id).opened_at  # type: ignore[union-attr]
    tick(app, opened)
    with app.factory() as session:
        due = session.get(ReadDeadline, case_id).due_at  # type: ignore[union-attr]
    due = due.replace(tzinfo=UTC) if due.tzinfo is None else due
    assert tick(app, due - timedelta(seconds=1)) == 0 and unread_pages(app) == []
    assert tick(app, due) == 1
    (esc,) = unread_pages(app)
    assert esc.status.value == "active"
    with app.factory() as session:
        page = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "page")).first()
    assert page is not None and page.subject.startswith("[UNREAD REPORT ")
    assert tick(app, due + timedelta(seconds=30)) == 0 and len(unread_pages(app)) == 1

    # Opening the case stops it and records who read it.
    config = tmp_path / "stopit.toml"
    cli(config, "--as", "Pat Morgan", "cases", "show", number_of(app, case_id))
    (esc,) = unread_pages(app)
    assert esc.status.value == "acknowledged" and esc.acknowledged_by == "Pat Morgan"
    with app.factory() as session:
        row = session.get(ReadDeadline, case_id)
        assert row is not None and row.seen_by == "Pat Morgan" and row.seen_via == "cases show"


def test_cases_seen_before_the_deadline_means_no_page(tmp_path: Path, app: App) -> None:
    case_id = routine_case(app)
    number = number_of(app, case_id)
    config = tmp_path / "stopit.toml"
    assert "marked as read by Pat" in cli(config, "--as", "Pat", "cases", "seen", number)
    assert "already read" in cli(config, "--as", "Pat", "cases", "seen", number)
    assert tick(app, datetime.now(UTC) + timedelta(days=10)) == 0 and unread_pages(app) == []


class Clock:
    """A clock the test moves forward; the worker thread reads it."""

    def __init__(self) -> None:
        self._now = datetime.now(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


def test_unread_report_escalates_end_to_end_on_the_real_server(tmp_path: Path) -> None:
    config = make_home(tmp_path, BUSINESS, AFTER_HOURS)
    text = config.read_text()
    # The report reads as urgent (a threat in the evidence): give urgent reports 20 minutes.
    config.write_text(text.replace('urgent = "1h"', 'urgent = "20m"'))
    clock = Clock()
    app = open_app(config)
    app.clock = clock
    try:
        with running_server(app, run_worker=True, worker_idle_seconds=0.1) as server:
            with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
                client.sendmail("robin@student.example.edu", [MAILBOX], report())
                client.sendmail("kim@student.example.edu", [MAILBOX], report(sender="Kim <kim@student.example.edu>",
                                                                            text="Another one, please look."))

            def deadlines() -> int:
                with app.factory() as session:
                    return len(session.scalars(select(ReadDeadline)).all())

            assert wait_until(lambda: deadlines() == 2, 10)
            with app.factory() as session:
                first, second = session.scalars(select(Case.number).order_by(Case.id)).all()
            # One of the two is read in time; the other is not.
            cli(config, "--as", "Pat", "cases", "seen", second)

            clock.advance(timedelta(minutes=19))
            assert not wait_until(lambda: bool(unread_pages(app)), 1.5)
            status = json.loads(cli(config, "status", "--json"))
            assert status["overdue_reports"] == []

            clock.advance(timedelta(minutes=2))
            assert wait_until(lambda: len(unread_pages(app)) == 1, 10)
            assert wait_until(lambda: any(
                m.name for m in (app.settings.data_path / "outbox" / "new").glob("*")
                if "[UNREAD REPORT" in m.read_text(errors="replace")), 10)
            status = json.loads(cli(config, "status", "--json"))
            assert [(r["case"], r["paged"]) for r in status["overdue_reports"]] == [(first, True)]
            assert first in cli(config, "status") and "Reports nobody has opened" in cli(config, "status")

            # The chain keeps escalating on the worker's clock until someone opens the report...
            clock.advance(timedelta(minutes=6))
            assert wait_until(lambda: unread_pages(app)[0].step >= 1, 10)
            cli(config, "--as", "Pat", "cases", "show", first)
            assert unread_pages(app)[0].status.value == "acknowledged"
            assert json.loads(cli(config, "status", "--json"))["overdue_reports"] == []
    finally:
        app.close()


def same_evidence(content: bytes) -> bytes:
    """A report whose forwarded message is long enough to be recognised when reported again."""
    return content.replace(b"you will be sorry", b"you will be sorry you ever came to this school")


def test_a_new_report_on_a_case_already_read_must_be_read_too(tmp_path: Path, app: App) -> None:
    ingest(app, same_evidence(report()))
    with app.factory() as session:
        case_id, number = session.execute(select(Case.id, Case.number)).one()
    cli(tmp_path / "stopit.toml", "--as", "Pat", "cases", "seen", number)
    tick(app, datetime.now(UTC))
    # The same offending message reported again joins the case (one case, two reports).
    ingest(app, same_evidence(report(sender="Kim <kim@student.example.edu>")), mail_from="kim@student.example.edu")
    with app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 1
    later = datetime.now(UTC) + timedelta(days=3)
    assert tick(app, later) == 1
    assert [e.status.value for e in unread_pages(app)] == ["active"]
    with app.factory() as session:
        actions = session.scalars(select(Event.action).where(Event.case_id == case_id)).all()
    assert "read-deadline-reopened" in actions


def test_an_acknowledged_emergency_nobody_opened_is_still_paged_as_unread(app: App) -> None:
    case_id = routine_case(app)
    start(app, case_id, datetime.now(UTC))
    later = datetime.now(UTC) + timedelta(days=3)
    # While the chain is being paged, no second (unread) page starts.
    tick(app, datetime.now(UTC) + timedelta(minutes=2))
    assert unread_pages(app) == []
    with app.factory.begin() as session:
        case = session.get(Case, case_id)
        assert case is not None
        acknowledge(session, case, by="oncall1@example.edu", now=datetime.now(UTC), via="reply")
    tick(app, later)
    assert [e.status.value for e in unread_pages(app)] == ["active"]


def test_a_possible_emergency_rule_pages_the_reviewer_through_the_pipeline(tmp_path: Path) -> None:
    config = with_reviewers(tmp_path)
    rule = ('\n[[casework.triage_rules]]\nname = "bridge-meeting"\ncategory = "self-harm"\n'
            'urgency = "possible-emergency"\nlanguage = "en"\npatterns = ["meet me at the bridge"]\n')
    config.write_text(config.read_text().replace("\ntriage_rules = []\n", "\n") + rule)
    app = open_app(config)
    try:
        ingest(app, report(text="She said meet me at the bridge tonight, I am scared for her."))
        with app.factory() as session:
            case = session.scalars(select(Case)).one()
            esc = session.scalars(select(Escalation)).one()
        assert case.urgency == "possible-emergency" and esc.kind == "review"
        assert contacts(app) == ["reviewer"]
    finally:
        app.close()
