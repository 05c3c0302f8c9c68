"""`stopit stats`: exact shares, medians and stop rate on a small dataset with chosen times."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stopit_mail.app import App, open_app
from stopit_mail.cases.chart import bar_chart
from stopit_mail.db import transaction
from stopit_mail.models import Escalation, Event, OutboxMessage, OutboxStatus

from factories import add_report, cli, make_case, staff_event, write_two_org_config

NOW = datetime.now(UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def ago(days: float) -> datetime:
    return NOW - days * DAY


def outbox(case_id: int, recipient: str, sent_at: datetime | None, n: int,
           status: OutboxStatus = OutboxStatus.SENT) -> OutboxMessage:
    return OutboxMessage(case_id=case_id, kind="notice", dedup_key=f"notice:{n}", recipients=[recipient],
                         message_id=f"<n{n}@stopit>", content=b"", status=status, sent_at=sent_at,
                         created_at=sent_at or NOW)


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    """North: eight cases over 200 days; south: one. Notices, escalations and staff actions with set times."""
    config = write_two_org_config(tmp_path)
    app: App = open_app(config)
    with transaction(app.factory) as s:
        c1 = make_case(s, "north", ago(200), categories=["bullying"], senders=["alice@x.example"], keys=["<1@x>"])
        c2 = make_case(s, "north", ago(150), categories=["bullying", "harassment"], urgency="urgent",
                       senders=["bob@x.example"], keys=["<2@x>"])
        c3 = make_case(s, "north", ago(120), categories=["harassment"], senders=["bob@x.example"], keys=["<3@x>"])
        c4 = make_case(s, "north", ago(100), categories=["threats-of-violence"], urgency="emergency",
                       senders=["carol@x.example"], keys=["<4@x>"])
        c5 = make_case(s, "north", ago(20), categories=["self-harm"], urgency="emergency",
                       senders=["dave@x.example"], keys=["<5@x>"])
        make_case(s, "north", ago(10), categories=["misconduct"], keys=["<6@x>"])
        make_case(s, "north", ago(5), senders=["carol@x.example"], keys=["<7@x>"])  # untriaged
        c8 = make_case(s, "north", ago(2), categories=["substance-use"], urgency="urgent",
                       senders=["erin@x.example"], keys=["<8@x>"])
        south = make_case(s, "south", ago(30), categories=["hazing"], senders=["frank@x.example"], keys=["<9@x>"])
        # First staff actions after opening: 2, 4, 6, 1, 3 and 8 hours; c6 and c7 await one.
        for case, hours in ((c1, 2), (c2, 4), (c3, 6), (c4, 1), (c5, 3), (c8, 8), (south, 5)):
            staff_event(s, case, case.opened_at + hours * HOUR)
            staff_event(s, case, case.opened_at + (hours + 1) * HOUR, action="case-assigned")
        # An automatic event before them does not count as a staff action.
        s.add(Event(case_id=c2.id, at=c2.opened_at + HOUR / 2, actor="stopit", action="ack-queued"))
        # Emergencies acknowledged after 10 and 30 minutes; one never.
        for n, (case, minutes) in enumerate(((c4, 10), (c5, 30), (c5, None))):
            s.add(Escalation(case_id=case.id, chain="business", started_at=case.opened_at, ack_code=f"ack{n}",
                             acknowledged_at=case.opened_at + timedelta(minutes=minutes) if minutes else None))
        # Notices. Alice: outbox row, plus the outbox's own event and a bare event (the same notice).
        alice = outbox(c1.id, "Alice <alice@x.example>", ago(199), 1)
        s.add(alice)
        s.flush()
        s.add(Event(case_id=c1.id, at=ago(199), actor="stopit", action="notice-sent", detail={"outbox_id": alice.id}))
        s.add(Event(case_id=c1.id, at=ago(199), actor="stopit", action="notice-sent", detail={}))
        # Bob: noticed at day 149, reported again (new message, case c3) at day 120: did not stop.
        s.add(outbox(c2.id, "bob@x.example", ago(149), 2))
        # Carol: noticed by event only; the late re-report of the same message (day 50) is not new
        # behaviour, and c7 (day 5) is after her 90 days: she stopped.
        s.add(Event(case_id=c4.id, at=ago(99), actor="stopit", action="notice-sent",
                    detail={"recipient": "carol@x.example"}))
        add_report(s, c4, ago(50), keys=["<4@x>"])
        # Dave: noticed 19 days ago, window open: pending. Erin: queued, never sent: no notice.
        s.add(outbox(c5.id, "dave@x.example", ago(19), 3))
        s.add(outbox(c8.id, "erin@x.example", None, 4, status=OutboxStatus.QUEUED))
        # South: Frank noticed 29 days ago (pending).
        s.add(outbox(south.id, "frank@x.example", ago(29), 5))
    app.close()
    yield config


def stats(config: Path, *args: str, who: str = "Nora") -> dict[str, Any]:
    return json.loads(cli(config, "--as", who, "stats", "--json", *args))


def shares(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {row["name"]: row["share"] for row in rows}


def test_north_figures(config: Path) -> None:
    figures = stats(config)
    assert (figures["cases"], figures["reports"]) == (8, 9)
    assert shares(figures["categories"]) == {
        "bullying": 0.25, "harassment": 0.25, "misconduct": 0.125, "self-harm": 0.125, "substance-use": 0.125,
        "threats-of-violence": 0.125, "untriaged": 0.125}
    assert [r["name"] for r in figures["categories"]][:2] == ["bullying", "harassment"]  # largest first
    assert figures["urgency"] == [{"name": "emergency", "cases": 2, "share": 0.25},
                                  {"name": "possible-emergency", "cases": 0, "share": 0.0},
                                  {"name": "urgent", "cases": 2, "share": 0.25},
                                  {"name": "routine", "cases": 4, "share": 0.5}]
    # Median of 1, 2, 3, 4, 6, 8 hours.
    first = figures["first_staff_action"]
    assert (first["median_seconds"], first["measured"], first["awaiting"]) == (3.5 * 3600, 6, 2)
    assert first["p90_seconds"] == 8 * 3600
    assert {row["name"]: row["cases"] for row in first["distribution"]} == {
        "under 1 h": 0, "1-4 h": 3, "4-24 h": 3, "1-3 days": 0, "3-7 days": 0, "over 7 days": 0}
    assert figures["emergency_acknowledgement"] == {"median_seconds": 20 * 60, "acknowledged": 2, "unacknowledged": 1}
    assert figures["notices_sent"] == 4
    assert figures["stop_rate"] == {"window_days": 90, "senders": 4, "stopped": 2, "reported_again": 1,
                                    "pending": 1, "rate": 0.6667}


def test_since_limits_cases_notices_and_senders(config: Path) -> None:
    recent = stats(config, "--since", "30d")
    assert recent["cases"] == 4
    assert shares(recent["categories"]) == {"misconduct": 0.25, "self-harm": 0.25, "substance-use": 0.25,
                                            "untriaged": 0.25}
    assert {k: recent["first_staff_action"][k] for k in ("median_seconds", "measured", "awaiting")} == {
        "median_seconds": 5.5 * 3600, "measured": 2, "awaiting": 2}
    assert recent["notices_sent"] == 1
    assert recent["stop_rate"] == {"window_days": 90, "senders": 1, "stopped": 0, "reported_again": 0,
                                   "pending": 1, "rate": None}
    assert stats(config, "--since", ago(160).date().isoformat())["cases"] == 7


def test_organisation_scope(config: Path) -> None:
    everyone = stats(config, who="Ada")
    assert everyone["cases"] == 9 and everyone["notices_sent"] == 5 and everyone["stop_rate"]["pending"] == 2
    north, nora = stats(config, "--org", "north", who="Ada"), stats(config)
    assert north["organisation"] == "north" and nora["organisation"] is None
    assert {k: v for k, v in north.items() if k not in ("organisation", "until")} == \
        {k: v for k, v in nora.items() if k not in ("organisation", "until")}
    assert stats(config, "--org", "south", who="Ada")["categories"] == [{"name": "hazing", "cases": 1, "share": 1.0}]
    assert "Nora does not work for organisation 'south'" in cli(config, "--as", "Nora", "stats", "--org", "south",
                                                                ok=False)
    assert "no organisation 'west'" in cli(config, "--as", "Ada", "stats", "--org", "west", ok=False)


def test_table_and_chart(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.html"
    table = cli(config, "--as", "Ada", "stats", "--org", "south", "--chart", str(out))
    assert "hazing" in table and "100%" in table and f"chart written to {out}" in table
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 4  # category, urgency, response, months
    assert ">hazing</text>" in page and ">emergency</text>" in page
    assert "South &lt;High&gt; &amp; Annex" in page and "<High>" not in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    north = cli(config, "--as", "Nora", "stats")
    assert "3 h 30 min" in north and "67%: 2 stopped, 1 reported again, 1 pending" in north


def test_chart_escapes_names() -> None:
    svg = bar_chart("Cases <by> category", [{"name": "<script>alert(1)</script>", "cases": 1, "share": 1.0}])
    assert "<script>" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "Cases &lt;by&gt; category" in svg


def test_a_reoffence_counts_at_once_not_after_the_window(config: Path) -> None:
    app: App = open_app(config)
    with transaction(app.factory) as s:
        # Dave was noticed 19 days ago; a new message from him is reported today.
        make_case(s, "north", ago(1), categories=["harassment"], senders=["dave@x.example"], keys=["<10@x>"])
    app.close()
    rate = stats(config)["stop_rate"]
    assert (rate["stopped"], rate["reported_again"], rate["pending"]) == (2, 2, 0)
    assert rate["rate"] == 0.5


def test_stats_over_more_cases_than_sqlite_has_parameters(tmp_path: Path) -> None:
    """A bound-parameter IN list broke `stats` above ~250k cases; grouping in SQL has no such limit."""
    config = write_two_org_config(tmp_path)
    app: App = open_app(config)
    opened = NOW - DAY
    with app.engine.begin() as connection:
        connection.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250001) "
            "INSERT INTO cases (number, reporter_code, organisation, status, title, urgency, categories, "
            "opened_at, updated_at, anonymous, identity_consent) "
            "SELECT 'NO-2026-' || i, 'code' || i, 'north', 'triaged', '', 'routine', '[\"bullying\"]', ?, ?, 0, 0 "
            "FROM n", (opened.isoformat(), opened.isoformat()))
        connection.exec_driver_sql(
            "INSERT INTO events (case_id, at, actor, action, detail, automatic) "
            "SELECT id, ?, 'Nora', 'note-added', '{}', 0 FROM cases", ((opened + HOUR).isoformat(),))
    app.close()
    figures = stats(config)
    assert figures["cases"] == 250001
    assert figures["categories"] == [{"name": "bullying", "cases": 250001, "share": 1.0}]
    assert figures["first_staff_action"]["measured"] == 250001
    assert figures["first_staff_action"]["median_seconds"] == 3600


def test_outcomes_and_months(config: Path) -> None:
    numbers = [row["number"] for row in json.loads(cli(config, "--as", "Nora", "cases", "list", "--json"))]
    cli(config, "--as", "Nora", "cases", "close", numbers[0], "--outcome", "unfounded", "--resolution", "no evidence")
    cli(config, "--as", "Nora", "cases", "close", numbers[1], "--outcome", "resolved-notice", "--resolution", "stopped")
    cli(config, "--as", "Nora", "cases", "close", numbers[2], "--outcome", "unfounded", "--resolution", "a prank")
    figures = stats(config)
    assert figures["outcomes"] == [{"name": "unfounded", "cases": 2, "share": 0.6667},
                                   {"name": "resolved-notice", "cases": 1, "share": 0.3333}]
    months = {row["month"]: row for row in figures["by_month"]}
    assert sum(row["cases"] for row in months.values()) == 8
    assert sum(row["emergencies"] for row in months.values()) == 2
    assert sum(row["closed"] for row in months.values()) == 3
    # The months of the oldest and newest cases (not today's month: on the 1st no case is from it).
    newest = ago(2).strftime("%Y-%m")
    assert ago(200).strftime("%Y-%m") in months and newest in months
    table = cli(config, "--as", "Nora", "stats")
    assert "unfounded" in table and newest in table and "4-24 h" in table
