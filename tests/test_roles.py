"""Roles and organisation scoping for the new staff actions (issue 11).

A staff member of one organisation cannot hold, reveal, approve or list requests on another's
cases; admin-only actions (retention run, release, intake, key backup) refuse everyone else.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from stopit_mail.app import App, open_app
from stopit_mail.config import load_settings
from stopit_mail.errors import ConfigError
from stopit_mail.models import Case

from casework_helpers import ingest, report
from factories import cli

SETUP = """
[[organisations]]
slug = "north"
name = "North High"
mailboxes = ["stopit@north.example.edu"]

[[staff]]
name = "Sam"
roles = ["staff", "reveal", "approver"]
organisations = ["main"]

[[staff]]
name = "Nia"
roles = ["staff", "reveal"]
organisations = ["north"]

[[staff]]
name = "Noor"
roles = ["staff", "approver"]
organisations = ["north"]

[[staff]]
name = "Ada"
roles = ["admin"]
"""


def _setup(app: App) -> tuple[Path, str]:
    config = app.settings.base_dir / "stopit.toml"
    config.write_text(config.read_text() + SETUP)
    # North asks for two-person reveals.
    text = config.read_text()
    head, _, tail = text.partition('slug = "north"')
    config.write_text(head + 'slug = "north"\nreveal_approval = true' + tail)
    reopened = open_app(config)
    try:
        ingest(reopened, report(reporter="kid@north.example.edu", subject="Anonymous: Fwd: hey"),
               rcpt="stopit@north.example.edu")
        with reopened.factory() as session:
            case = session.scalars(select(Case)).one()
    finally:
        reopened.close()
    assert case.organisation == "north"
    return config, case.number


def test_other_organisations_cases_are_out_of_reach(app: App) -> None:
    config, number = _setup(app)
    for args in (("cases", "hold", number, "--reason", "I want to keep this one"),
                 ("reveal", number, "--reason", "I want to know who this is")):
        assert "does not work for organisation 'north'" in cli(config, "--as", "Sam", *args, ok=False)
    cli(config, "--as", "Nia", "reveal", number, "--reason", "police request 2026-7")
    assert "does not work for organisation 'north'" in cli(config, "--as", "Sam", "reveal", "approve", "1",
                                                           "--reason", "seems fine to me", ok=False)
    assert "No reveal requests" in cli(config, "--as", "Sam", "reveal", "requests")
    assert "pending" in cli(config, "--as", "Noor", "reveal", "requests")
    cli(config, "--as", "Nia", "cases", "hold", number, "--reason", "parents' lawyer asked us")


def test_admin_only_actions(app: App, tmp_path: Path) -> None:
    config, number = _setup(app)
    cli(config, "--as", "Nia", "cases", "hold", number, "--reason", "parents' lawyer asked us")
    for args in (("retention", "run"), ("cases", "release", number, "--reason", "lawyer says it is over"),
                 ("key", "backup", str(tmp_path / "k")), ("ingest", str(tmp_path))):
        assert "'admin' role" in cli(config, "--as", "Nia", *args, ok=False)
    assert "released" in cli(config, "--as", "Ada", "cases", "release", number, "--reason", "lawyer says it is over")
    assert "purged: none" in cli(config, "--as", "Ada", "retention", "run")


def test_unknown_roles_and_duplicate_names_are_config_errors(app: App) -> None:
    config = app.settings.base_dir / "stopit.toml"
    config.write_text(config.read_text() + '\n[[staff]]\nname = "Sam"\nroles = ["boss"]\n'
                      '\n[[staff]]\nname = "sam"\nroles = []\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    text = str(caught.value)
    assert "'boss'" in text and "used twice" in text and "staff[1].roles: empty" in text
