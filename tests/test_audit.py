"""`stopit audit`: every automatic and staff action, with actor and time, in the order it happened."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stopit_mail.app import App, open_app
from stopit_mail.db import transaction

from factories import cli, make_case, write_two_org_config


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    config = write_two_org_config(tmp_path)
    app: App = open_app(config)
    old = datetime.now(UTC) - timedelta(days=30)
    with transaction(app.factory) as session:
        numbers = [make_case(session, org, old, title=f"{org} case").number for org in ("north", "north", "south")]
    app.close()
    yield config, numbers


def audit(config: Path, *args: str, who: str = "Ada") -> list[dict[str, object]]:
    return json.loads(cli(config, "--as", who, "audit", "--json", *args))


def test_audit_shows_every_action_in_order_with_actor_and_reason(setup: tuple[Path, list[str]]) -> None:
    config, (first, second, south) = setup
    cli(config, "--as", "Nora", "cases", "note", first, "called the reporter back")
    cli(config, "--as", "Ada", "cases", "status", second, "waiting", "--reason", "awaiting the school's reply")
    cli(config, "--as", "Nora", "cases", "close", first, "--outcome", "resolved-notice", "--resolution", "no further contact")
    cli(config, "--as", "Ada", "cases", "reopen", first, "--reason", "new messages arrived")
    cli(config, "--as", "Ada", "cases", "assign", south, "Ada")

    rows = audit(config)
    staff = [(r["case"], r["actor"], r["action"]) for r in rows if not r["automatic"]]
    assert staff == [(first, "Nora", "note-added"), (second, "Ada", "status-changed"), (first, "Nora", "case-closed"),
                     (first, "Ada", "case-reopened"), (south, "Ada", "case-assigned")]
    # The automatic events (case-opened, older) come first; ids only ever grow.
    assert [r["action"] for r in rows[:3]] == ["case-opened"] * 3 and all(r["automatic"] for r in rows[:3])
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    reopened = next(r for r in rows if r["action"] == "case-reopened")
    assert reopened["detail"]["reason"] == "new messages arrived"
    assert datetime.fromisoformat(str(reopened["at"])).tzinfo is not None

    only_first = audit(config, first)
    assert {r["case"] for r in only_first} == {first}
    assert [r["action"] for r in only_first] == ["case-opened", "note-added", "case-closed", "case-reopened"]
    assert [r["action"] for r in audit(config, "--actor", "nora")] == ["note-added", "case-closed"]
    assert [r["action"] for r in audit(config, "--since", "1d")] == [
        "note-added", "status-changed", "case-closed", "case-reopened", "case-assigned"]
    assert [r["action"] for r in audit(config, "--limit", "2")] == ["case-reopened", "case-assigned"]

    # A north-only staff member reads only north's log.
    assert {r["case"] for r in audit(config, who="Nora")} == {first, second}

    table = cli(config, "--as", "Ada", "audit", second)
    assert "status-changed" in table and "awaiting the school's reply" in table and "staff" in table


def test_audit_of_an_unknown_case_is_one_clear_error(setup: tuple[Path, list[str]]) -> None:
    config, _numbers = setup
    assert "no case 'N-1999-0001'" in cli(config, "--as", "Ada", "audit", "N-1999-0001", ok=False)


def test_the_whole_log_shows_the_newest_events_and_says_so(setup: tuple[Path, list[str]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # At a million cases the whole log is millions of events: printing them all took minutes
    # and ran past the client's time limit. A cap is never silent, and --all lifts it.
    from click.testing import CliRunner

    from stopit_mail.cli import main
    from stopit_mail.commands import audit as audit_command

    config, (first, _second, _south) = setup
    everything = audit(config)
    monkeypatch.setattr(audit_command, "DEFAULT_LIMIT", 2)

    def run(*args: str) -> tuple[list[dict[str, object]], str]:
        result = CliRunner().invoke(main, ["-c", str(config), "--as", "Ada", "audit", "--json", *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout), result.stderr

    newest, note = run()
    assert newest == everything[-2:] and "showing the newest 2 events" in note and "--all" in note
    assert run("--all") == (everything, "")
    assert run("--limit", "3") == (everything[-3:], "")
    assert run(first)[1] == ""  # one case: all its events
