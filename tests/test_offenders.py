"""Repeat offenders: the same sender found across cases by address, name variants and staff links."""

from __future__ import annotations

import json

from click.testing import CliRunner

from stopit_mail.app import App
from stopit_mail.cases.offenders import name_variants
from stopit_mail.cli import main

from casework_helpers import ingest, latest_case, report


def cli(app: App, *args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(main, ["-c", str(app.settings.base_dir / "stopit.toml"), "--as", "Pat", *args])
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def _case(app: App, sender: str, reporter: str, body: str) -> str:
    original = (f"From: {sender}\r\nTo: {reporter}\r\nSubject: you\r\nDate: Mon, 16 Nov 2026 04:41:03 +0000\r\n"
                f"Message-ID: <{abs(hash(body))}@example.net>\r\n\r\n{body}\r\n").encode()
    ingest(app, report(reporter=reporter, original=original))
    return latest_case(app).number


def test_name_variants_cover_reordering_and_case_but_not_generic_names() -> None:
    forms = name_variants("Shadow Fox")
    assert {"Shadow Fox", "shadow fox", "SHADOW FOX", "Fox, Shadow", "fox shadow"} <= forms
    assert name_variants("admin") == set() and name_variants("Jo") == set()


def test_cases_of_one_sender_are_linked_and_shown(app: App) -> None:
    first = _case(app, "Dark Knight <dk1@freemail.example>", "ana@example.edu", "You are worthless, quit the team.")
    second = _case(app, "dk1@freemail.example", "ben@example.edu", "Everyone hates you, stop coming to practice.")
    third = _case(app, '"KNIGHT, DARK" <new.account@other.example>', "cy@example.edu", "I made a new account, still here.")
    unrelated = _case(app, "someone@else.example", "di@example.edu", "Nobody wants you at the dance.")
    detail = json.loads(cli(app, "cases", "show", second, "--json"))
    assert {r["number"]: r["linked_by"] for r in detail["related_cases"]} == {first: ["address dk1@freemail.example"]}
    shown = json.loads(cli(app, "cases", "show", first, "--json"))["related_cases"]
    by_number = {r["number"]: r["linked_by"] for r in shown}
    assert by_number[second] == ["address dk1@freemail.example"]
    assert by_number[third] == ["name 'KNIGHT, DARK'"]  # the same name, re-ordered and shouted
    assert unrelated not in by_number
    # A staff member links the unrelated-looking case; both sides see it, and it is audited.
    cli(app, "offenders", "link", unrelated, first, "--reason", "same phone number in both threats")
    assert "linked by Pat" in {r["number"]: r["linked_by"] for r in json.loads(
        cli(app, "cases", "show", first, "--json"))["related_cases"]}[unrelated]
    assert "offender-linked" in [e["action"] for e in json.loads(cli(app, "audit", unrelated, "--json"))]
    table = cli(app, "cases", "show", first)
    assert "The alleged sender's other cases" in table and second in table
    listed = json.loads(cli(app, "offenders", "list", "--json"))
    assert listed[0]["address"] == "dk1@freemail.example" and listed[0]["cases"] == 2
    history = json.loads(cli(app, "offenders", "show", "DK1@freemail.example", "--json"))
    assert [c["number"] for c in history["cases"]] == [first, second] and history["notices"] == []
    assert "no case names" in cli(app, "offenders", "show", "nobody@x.example", ok=False)
