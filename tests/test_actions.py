"""Staff casework through the CLI: every change audited, organisations kept apart, closed means closed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stopit_mail.app import App, open_app
from stopit_mail.cases import actions
from stopit_mail.cases.staff import Actor, PermissionDenied
from stopit_mail.db import transaction
from stopit_mail.models import Case, Event

from factories import add_report, cli, make_case, write_two_org_config

NOW = datetime.now(UTC)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_two_org_config(tmp_path)


@pytest.fixture
def app(config: Path) -> Iterator[App]:
    installation = open_app(config)
    yield installation
    installation.close()


@pytest.fixture
def numbers(app: App) -> dict[str, str]:
    """Two north cases and one south case."""
    with transaction(app.factory) as session:
        cases = {
            "north": make_case(session, "north", NOW - timedelta(days=3), title="locker room threats",
                               senders=["bully@freemail.example"], keys=["<a@x>"],
                               categories=["threats-of-violence"], urgency="urgent",
                               body="you will regret coming to practice", reporter="pat@north.example"),
            "north2": make_case(session, "north", NOW - timedelta(days=2), title="same sender again",
                                senders=["bully@freemail.example", "other@freemail.example"], keys=["<b@x>"],
                                categories=["bullying"]),
            "south": make_case(session, "south", NOW - timedelta(days=1), title="south side rumours",
                               senders=["rumour@freemail.example"], body="rumours about the locker room"),
        }
        cases["north"].triage = {"categories": ["threats-of-violence"], "urgency": "urgent", "matches": [],
                                 "explanation": 'urgent: rule "threat-en" matched "regret"'}
        return {name: case.number for name, case in cases.items()}


def events_of(app: App, number: str) -> list[Event]:
    with transaction(app.factory) as session:
        case_id = session.query(Case.id).filter(Case.number == number).scalar()
        return session.query(Event).filter(Event.case_id == case_id).order_by(Event.id).all()


def test_each_staff_command_changes_the_case_and_records_who_and_why(config: Path, app: App,
                                                                     numbers: dict[str, str]) -> None:
    case = numbers["north"]
    cli(config, "--as", "Ada", "cases", "assign", case, "nora")
    cli(config, "--as", "Ada", "cases", "note", case, "Spoke to the coach.")
    cli(config, "--as", "Nora", "cases", "status", case, "waiting", "--reason", "waiting for the parents")
    cli(config, "--as", "Nora", "cases", "close", case, "--outcome", "resolved-notice", "--resolution", "sender apologised")
    cli(config, "--as", "Ada", "cases", "reopen", case, "--reason", "it started again")
    staff = [e for e in events_of(app, case) if not e.automatic]
    assert [(e.actor, e.action) for e in staff] == [
        ("Ada", "case-assigned"), ("Ada", "note-added"), ("Nora", "status-changed"), ("Nora", "case-closed"),
        ("Ada", "case-reopened")]
    assert staff[0].detail == {"assignee": "Nora", "previous": None}  # the configured spelling
    assert staff[1].detail["text"] == "Spoke to the coach."
    assert staff[2].detail == {"status": "waiting", "previous": "new", "reason": "waiting for the parents"}
    assert staff[3].detail == {"outcome": "resolved-notice", "resolution": "sender apologised", "previous": "waiting"}
    assert staff[4].detail["reason"] == "it started again"
    shown = json.loads(cli(config, "--as", "Ada", "cases", "show", case, "--json"))
    # Reopening returns to the status before closing and clears the resolution.
    assert (shown["status"], shown["assigned_to"], shown["resolution"], shown["closed_at"]) == \
        ("waiting", "Nora", None, None)


def test_closed_cases_refuse_every_change_but_reopen(config: Path, app: App, numbers: dict[str, str]) -> None:
    case, other = numbers["north"], numbers["north2"]
    cli(config, "--as", "Ada", "cases", "close", case, "--outcome", "no-action", "--resolution", "resolved informally")
    for args in (["note", case, "more"], ["assign", case, "Ada"], ["status", case, "triaged"],
                 ["close", case, "--outcome", "no-action", "--resolution", "again"], ["merge", other, case], ["merge", case, other],
                 ["classify", case, "--urgency", "routine", "--reason", "calmer"]):
        out = cli(config, "--as", "Ada", "cases", *args, ok=False)
        assert f"case {case} is closed; reopen it first" in out
    assert cli(config, "--as", "Ada", "cases", "reopen", case).strip() == f"{case} reopened (new)"
    out = cli(config, "--as", "Ada", "cases", "reopen", case, ok=False)
    assert f"case {case} is new, not closed" in out
    assert [e.action for e in events_of(app, case) if not e.automatic] == ["case-closed", "case-reopened"]


def test_closing_needs_a_resolution(config: Path, numbers: dict[str, str]) -> None:
    result = cli(config, "--as", "Ada", "cases", "close", numbers["north"], "--outcome", "no-action", "--resolution", "  ", ok=False)
    assert "the resolution must not be empty" in result


def test_merge_moves_reports_evidence_and_parties_and_leaves_a_pointer(config: Path, app: App,
                                                                       numbers: dict[str, str]) -> None:
    source, target = numbers["north2"], numbers["north"]
    out = cli(config, "--as", "Nora", "cases", "merge", source, target)
    assert out.strip() == f"{source} merged into {target}: 1 reports, 1 evidence items, 1 parties moved"
    merged = json.loads(cli(config, "--as", "Nora", "cases", "show", target, "--json"))
    assert len(merged["reports"]) == 2 and len(merged["evidence"]) == 2
    assert sorted(p["address"] for p in merged["parties"] if p["role"] == "alleged-sender") == [
        "bully@freemail.example", "other@freemail.example"]
    # The target takes the union of categories and the more urgent urgency.
    assert (merged["categories"], merged["urgency"]) == (["threats-of-violence", "bullying"], "urgent")
    assert merged["timeline"][-1]["action"] == "case-merged-from"
    assert merged["timeline"][-1]["detail"]["source"] == source
    pointer = json.loads(cli(config, "--as", "Nora", "cases", "show", source, "--json"))
    assert (pointer["status"], pointer["merged_into"], pointer["resolution"]) == (
        "closed", target, f"merged into {target}")
    assert pointer["reports"] == [] and pointer["evidence"] == [] and pointer["parties"] == []
    last = pointer["timeline"][-1]
    assert (last["actor"], last["action"], last["detail"]["into"]) == ("Nora", "case-merged-into", target)
    # The raw reports follow, so `show --raw` on the target still finds them.
    raw_id = merged["reports"][1]["raw_message_id"]
    assert cli(config, "--as", "Nora", "cases", "show", target, "--raw", str(raw_id)) == "x" * 10
    assert "was merged into" in cli(config, "--as", "Nora", "cases", "reopen", source, ok=False)


def test_merge_refuses_itself_and_other_organisations(config: Path, numbers: dict[str, str]) -> None:
    assert "cannot be merged into itself" in cli(
        config, "--as", "Ada", "cases", "merge", numbers["north"], numbers["north"], ok=False)
    assert "different organisations" in cli(
        config, "--as", "Ada", "cases", "merge", numbers["north"], numbers["south"], ok=False)


def test_classify_overrides_triage_and_keeps_the_automatic_explanation(config: Path, app: App,
                                                                       numbers: dict[str, str]) -> None:
    case = numbers["north"]
    cli(config, "--as", "Nora", "cases", "classify", case, "--category", "bullying", "--category",
        "cyberbullying", "--urgency", "routine", "--reason", "a joke between friends, confirmed by both")
    shown = json.loads(cli(config, "--as", "Nora", "cases", "show", case, "--json"))
    assert shown["categories"] == ["bullying", "cyberbullying"] and shown["urgency"] == "routine"
    assert shown["status"] == "triaged"
    assert shown["triage"]["explanation"] == 'urgent: rule "threat-en" matched "regret"'
    override = shown["triage"]["override"]
    assert override["by"] == "Nora" and override["reason"] == "a joke between friends, confirmed by both"
    assert override["previous"] == {"categories": ["threats-of-violence"], "urgency": "urgent"}
    event = shown["timeline"][-1]
    assert (event["actor"], event["action"], event["detail"]["reason"]) == (
        "Nora", "case-classified", "a joke between friends, confirmed by both")
    assert "give at least one" in cli(config, "--as", "Nora", "cases", "classify", case, "--reason", "x", ok=False)


def test_a_north_only_staff_member_cannot_see_or_touch_south_cases(config: Path, numbers: dict[str, str]) -> None:
    listed = json.loads(cli(config, "--as", "Nora", "cases", "list", "--json"))
    assert sorted(c["number"] for c in listed) == sorted([numbers["north"], numbers["north2"]])
    denied = "Nora does not work for organisation 'south'"
    south = numbers["south"]
    for args in (["show", south], ["note", south, "hello"], ["assign", south, "Nora"], ["status", south, "waiting"],
                 ["close", south, "--outcome", "no-action", "--resolution", "x"], ["reopen", south],
                 ["classify", south, "--urgency", "routine", "--reason", "x"]):
        assert denied in cli(config, "--as", "Nora", "cases", *args, ok=False)
    assert denied in cli(config, "--as", "Nora", "audit", south, ok=False)
    assert json.loads(cli(config, "--as", "Nora", "cases", "search", "locker room", "--json"))[0]["number"] == \
        numbers["north"]
    assert len(json.loads(cli(config, "--as", "Nora", "cases", "search", "locker room", "--json"))) == 1
    # Ada works for every organisation.
    assert len(json.loads(cli(config, "--as", "Ada", "cases", "list", "--json"))) == 3
    assert len(json.loads(cli(config, "--as", "Ada", "cases", "search", "locker room", "--json"))) == 2
    cli(config, "--as", "Ada", "cases", "note", south, "seen")
    # Assigning a south case to Nora is refused: she could not see it.
    assert "Nora does not work for organisation 'south'" in cli(
        config, "--as", "Ada", "cases", "assign", south, "Nora", ok=False)
    assert "not a configured staff member" in cli(config, "--as", "Ada", "cases", "assign", south, "Zed", ok=False)
    assert "who is acting?" in cli(config, "cases", "list", ok=False)
    assert "'Zed' is not a configured staff member" in cli(config, "--as", "Zed", "cases", "list", ok=False)


def test_actions_check_the_organisation_themselves(app: App, numbers: dict[str, str]) -> None:
    nora = Actor("Nora", frozenset({"staff"}), frozenset({"north"}))
    with transaction(app.factory) as session:
        south = session.query(Case).filter(Case.number == numbers["south"]).one()
        with pytest.raises(PermissionDenied):
            actions.note(session, nora, south, "sneaky")
        with pytest.raises(actions.ActionRefused, match="closing needs a resolution"):
            actions.set_status(session, Actor("Ada", restricted=False), south, "closed")
        assert actions.set_status(session, Actor("Ada", restricted=False), south, "new") is False


def test_search_reads_titles_bodies_notes_and_respects_anonymity(config: Path, app: App,
                                                                  numbers: dict[str, str]) -> None:
    with transaction(app.factory) as session:
        hidden = make_case(session, "north", NOW, title="anonymous tip", anonymous=True,
                           wrapper_text="I am jo.student@north.example and please keep me anonymous, the van")
        add_report(session, hidden, NOW, body="the van in the car park")
        hidden_number = hidden.number
    cli(config, "--as", "Ada", "cases", "note", numbers["north2"], "Parents meeting on Friday")

    def search(text: str) -> list[dict[str, object]]:
        return json.loads(cli(config, "--as", "Ada", "cases", "search", text, "--json"))

    assert [(h["number"], [m["field"] for m in h["matches"]]) for h in search("REGRET")] == [
        (numbers["north"], ["evidence body"])]
    assert search("parents meeting")[0]["matches"] == [{"field": "note", "snippet": "Parents meeting on Friday"}]
    # A non-anonymous reporter can be found by address; an anonymous one never.
    assert search("pat@north.example")[0]["matches"][0]["field"] == "reporter"
    assert search("jo.student@north.example") == []
    van = search("the van")
    assert van[0]["number"] == hidden_number
    snippets = " ".join(m["snippet"] for m in van[0]["matches"])  # type: ignore[union-attr]
    assert "jo.student" not in snippets and "north.example" not in snippets and "hidden]" in snippets
    assert search("100%_") == []  # LIKE wildcards are literal
    assert "No matching cases." in cli(config, "--as", "Ada", "cases", "search", "zebra")


def test_search_goes_through_the_full_text_index_and_follows_changes(config: Path, app: App,
                                                                     numbers: dict[str, str]) -> None:
    from sqlalchemy import select
    from sqlalchemy import text as sql

    from stopit_mail.models import Evidence

    def search(words: str) -> list[str]:
        return [h["number"] for h in json.loads(cli(config, "--as", "Ada", "cases", "search", words, "--json"))]

    with app.engine.connect() as connection:
        indexed = connection.execute(sql("SELECT count(*) FROM search_text WHERE search_text MATCH '\"regret\"'"))
        assert indexed.scalar() == 1  # the index itself holds the evidence words
    assert search("regret") == [numbers["north"]]
    # A redaction (or any rewrite) of stored text leaves nothing of the old words findable.
    with transaction(app.factory) as session:
        for item in session.scalars(select(Evidence)):
            if item.body_text and "regret" in item.body_text.lower():
                item.body_text = "[redacted]"
    assert search("regret") == []
    assert numbers["north"] in search("[redacted]")
    # Merging moves the evidence; the index follows the case it now belongs to.
    cli(config, "--as", "Ada", "cases", "merge", numbers["north"], numbers["north2"])
    assert search("[redacted]")[0] == numbers["north2"]


def test_a_migration_that_rebuilds_a_table_cannot_silently_stop_the_index(app: App) -> None:
    """SQLite batch migrations rebuild tables without their triggers; start-up puts them back."""
    from stopit_mail.cases.fulltext import ensure_search_index

    with app.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER search_evidence_ai")
        assert ensure_search_index(connection) is True
        assert ensure_search_index(connection) is False
        names = set(connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
    assert "search_evidence_ai" in names
