"""The stats rollups (kept by triggers) equal a full recount after any mix of changes, on both databases."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.cases import actions
from stopit_mail.cases.queries import CaseFilter, count_cases
from stopit_mail.cases.rollups import backfill_statements, ensure_rollups, fold
from stopit_mail.cases.staff import Actor
from stopit_mail.cases.stats import compute_stats
from stopit_mail.db import make_engine, session_factory, transaction, upgrade_database
from stopit_mail.models import Case, CaseStatus, Event, Report, StatTally

from factories import add_report, make_case, staff_event

ADA = Actor(name="Ada", restricted=False)
NORA = Actor(name="Nora", organisations=frozenset({"north"}))
START = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
OUTCOMES = ("unfounded", "resolved-notice", "duplicate")


@pytest.fixture
def factory(any_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(any_db_url)
    upgrade_database(engine)
    yield session_factory(engine)
    engine.dispose()


def recount(session: Session, organisations: set[str], since: datetime | None) -> dict[str, Any]:
    """The figures the rollups stand for, counted case by case in Python from the tables."""
    def utc(moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    cases = [c for c in session.scalars(select(Case)) if c.merged_into_id is None and c.organisation in organisations
             and (since is None or utc(c.opened_at) >= since)]
    categories: Counter[str] = Counter()
    for case in cases:
        categories.update(set(case.categories or []) or {"untriaged"})
    delays = []
    for case in cases:
        first = session.scalar(select(func.min(Event.at)).where(Event.case_id == case.id, Event.automatic.is_(False)))
        if first is not None:
            delays.append(round((utc(first) - utc(case.opened_at)).total_seconds(), 1))
    months: Counter[str] = Counter(utc(c.opened_at).strftime("%Y-%m") for c in cases)
    live = {c.id for c in session.scalars(select(Case)) if c.merged_into_id is None and c.organisation in organisations}
    reports = [r for r in session.scalars(select(Report)) if r.case_id in live
               and (since is None or utc(r.received_at) >= since)]
    return {
        "cases": len(cases), "reports": len(reports),
        "categories": dict(categories), "urgency": dict(Counter(c.urgency for c in cases)),
        "outcomes": dict(Counter(c.outcome or "(none recorded)" for c in cases if c.status is CaseStatus.CLOSED)),
        "months": dict(months), "measured": len(delays),
        "median": statistics.median(delays) if delays else None,
    }


def figures(session: Session, actor: Actor, since: datetime | None) -> dict[str, Any]:
    """The same figures as `stats` computes them from the rollups."""
    stats = compute_stats(session, actor, since=since, now=START + timedelta(days=400))
    first = stats["first_staff_action"]
    return {
        "cases": stats["cases"], "reports": stats["reports"],
        "categories": {r["name"]: r["cases"] for r in stats["categories"]},
        "urgency": {r["name"]: r["cases"] for r in stats["urgency"] if r["cases"]},
        "outcomes": {r["name"]: r["cases"] for r in stats["outcomes"]},
        "months": {r["month"]: r["cases"] for r in stats["by_month"]}, "measured": first["measured"],
        "median": None if first["median_seconds"] is None else round(first["median_seconds"], 1),
    }


def assert_rollups_match(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        # `cases list` totals (merged cases included) from the rollup equal a count of the rows.
        for where in (CaseFilter(), CaseFilter(organisation="south"), CaseFilter(urgency="emergency")):
            counted = session.scalar(select(func.count()).select_from(Case).where(
                *[getattr(Case, name) == value for name, value in vars(where).items() if value]))
            assert count_cases(session, where, ADA) == counted, where
        for category in ("bullying", "self-harm", "bully"):
            assert count_cases(session, CaseFilter(category=category), ADA) == len(
                [c for c in session.scalars(select(Case)) if category in (c.categories or [])]), category
        assert count_cases(session, CaseFilter(), NORA) == session.scalar(
            select(func.count()).select_from(Case).where(Case.organisation == "north"))
        for actor, organisations in ((ADA, {"north", "south"}), (NORA, {"north"})):
            for since in (None, START + timedelta(days=20, hours=5)):
                assert figures(session, actor, since) == recount(session, organisations, since), (actor.name, since)


def test_rollups_equal_a_full_recount_after_mixed_changes(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        made = [make_case(s, "north" if n % 3 else "south", START + timedelta(days=9 * n, hours=n),
                          categories=[["bullying"], ["harassment", "bullying"], []][n % 3],
                          urgency=("routine", "urgent", "emergency")[n % 3], senders=[f"s{n}@x.example"])
                for n in range(8)]
        for n, case in enumerate(made[:6]):
            staff_event(s, case, case.opened_at + timedelta(hours=n + 1, minutes=7))
        numbers = [c.number for c in made]
    assert_rollups_match(factory)
    with transaction(factory) as s:
        cases = {c.number: c for c in s.scalars(select(Case))}
        # Through the services: triage, close with an outcome, reopen, merge, a later report.
        actions.classify(s, ADA, cases[numbers[2]], categories=["self-harm"], urgency="emergency", reason="pills")
        actions.close(s, ADA, cases[numbers[0]], "no evidence", "unfounded", OUTCOMES)
        actions.close(s, ADA, cases[numbers[3]], "stopped", "resolved-notice", OUTCOMES)
        actions.reopen(s, ADA, cases[numbers[3]], "came back")
        actions.merge(s, ADA, cases[numbers[4]], cases[numbers[1]])
        add_report(s, cases[numbers[5]], START + timedelta(days=60))
        # An earlier staff action than the first one recorded, on a case that had none.
        staff_event(s, cases[numbers[6]], cases[numbers[6]].opened_at + timedelta(minutes=30))
    assert_rollups_match(factory)
    with transaction(factory) as s:
        case_ids = {c.number: c.id for c in s.scalars(select(Case))}
        # Through Core and raw SQL, as a bulk import or the worker writes: no service involved.
        s.execute(update(Case).where(Case.id == case_ids[numbers[6]]).values(
            opened_at=START + timedelta(days=80), organisation="north", categories=["threats-of-violence"]))
        s.execute(delete(Event).where(Event.case_id == case_ids[numbers[0]], Event.automatic.is_(False)))
        s.execute(update(Event).where(Event.case_id == case_ids[numbers[1]], Event.automatic.is_(False)).values(
            automatic=True))
        moved = s.scalar(select(Report.id).where(Report.case_id == case_ids[numbers[5]]).limit(1))
        s.execute(update(Report).where(Report.id == moved).values(received_at=START + timedelta(days=3)))
        s.execute(text("INSERT INTO cases (number, reporter_code, organisation, status, title, urgency, categories, "
                       "opened_at, updated_at, anonymous, identity_consent, legal_hold) VALUES ('N-RAW-1', 'raw1', "
                       "'north', 'closed', '', 'urgent', '[\"bullying\"]', :at, :at, false, false, false)"),
                  {"at": START + timedelta(days=45)})
    assert_rollups_match(factory)
    with transaction(factory) as s:
        # Folding the appended rows changes no figure.
        assert fold(s, at_least=1)
        assert s.scalar(select(func.count()).select_from(StatTally).where(StatTally.folded.is_(False))) == 0
    assert_rollups_match(factory)


def test_a_lost_trigger_is_put_back_and_the_rollup_recounted(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'stopit.db'}")
    upgrade_database(engine)
    factory = session_factory(engine)
    with engine.begin() as connection:
        # What a later batch migration rebuilding `cases` does on SQLite.
        connection.exec_driver_sql("DROP TRIGGER tally_cases_ai")
        connection.exec_driver_sql("DROP TRIGGER sender_text_ai")
    with transaction(factory) as s:
        make_case(s, "north", START, categories=["bullying"], senders=["lost@x.example"])
    with engine.begin() as connection:
        assert ensure_rollups(connection) is True
        assert ensure_rollups(connection) is False
    with transaction(factory) as s:
        assert compute_stats(s, ADA)["categories"] == [{"name": "bullying", "cases": 1, "share": 1.0}]
        assert count_cases(s, CaseFilter(offender="lost@x")) == 1
        before = s.execute(select(StatTally.kind, func.sum(StatTally.tally)).group_by(StatTally.kind)).all()
        for statement in backfill_statements("sqlite"):
            s.connection().exec_driver_sql(statement)
        assert s.execute(select(StatTally.kind, func.sum(StatTally.tally)).group_by(StatTally.kind)).all() == before
    engine.dispose()


def test_categories_json_text_is_counted_as_stats_always_did(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        make_case(s, "north", START, categories=["bullying", "bullying"])
    with transaction(factory) as s:
        stats = compute_stats(s, ADA)
    assert stats["categories"] == [{"name": "bullying", "cases": 1, "share": 1.0}]
    assert json.loads(json.dumps(stats))["cases"] == 1
