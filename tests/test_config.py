"""Configuration: every mistake reported with key, found and expected; defaults work."""

from __future__ import annotations

import re
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest

from stopit_mail.app import default_config_text
from stopit_mail.config import iter_documented_keys, load_settings, settings_from_dict
from stopit_mail.errors import ConfigError

ORG = {"slug": "main", "name": "Example", "mailboxes": ["stopit@example.edu"]}


def problems_of(table: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        settings_from_dict(table, Path("."))
    return info.value.problems


def test_default_config_is_valid_and_uses_sqlite_in_data_dir(tmp_path: Path) -> None:
    (tmp_path / "stopit.toml").write_text(default_config_text("Example U", "stopit@example.edu"))
    settings = load_settings(tmp_path)
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'stopit.db'}"
    assert settings.organisations[0].mailboxes == ["stopit@example.edu"]


def test_every_mistake_is_reported_at_once_with_key_found_and_expected() -> None:
    problems = problems_of({
        "organisations": [dict(ORG, colour="blue")],
        "limits": {"max_message_bytes": "big"},
        "surprise": 1,
    })
    assert any(p.startswith("surprise: unknown key") for p in problems)
    assert any(p.startswith("organisations[0].colour: unknown key") for p in problems)
    assert "limits.max_message_bytes: found 'big' (str), expected an integer" in problems
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"mailboxes": ["not-an-address"]}, "organisations[0].mailboxes[0]: found 'not-an-address'"),
        ({"mailboxes": ["stopit+x@example.edu"]}, "no '+'"),
        ({"slug": "Bad Slug"}, "organisations[0].slug: found 'Bad Slug'"),
        ({"case_prefix": "si"}, "organisations[0].case_prefix: found 'si', expected 1-6 capital letters"),
        ({"anonymous_by_default": "yes"}, "expected true or false"),
    ],
)
def test_value_checks_name_the_key(change: dict, fragment: str) -> None:
    problems = problems_of({"organisations": [dict(ORG, **change)]})
    assert any(fragment in p for p in problems), problems


def test_missing_required_keys_and_organisations() -> None:
    assert problems_of({}) == ["organisations: none configured (expected at least one [[organisations]] table)"]
    problems = problems_of({"organisations": [{"mailboxes": ["a@example.edu"]}]})
    assert "organisations[0].slug: missing (expected a string)" in problems


def test_a_mailbox_cannot_belong_to_two_organisations() -> None:
    other = dict(ORG, slug="other")
    problems = problems_of({"organisations": [ORG, other]})
    assert any("already owned" in p for p in problems)


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "stopit.toml"
    bad.write_text("data_dir = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)


def test_every_setting_is_documented_in_the_template() -> None:
    """Like Datasette's test_docs: a setting missing from the commented template fails the build.

    Each key must appear as a setting line (`key = ...`, possibly commented out as an example)
    or as a table header, so an operator reading stopit.toml sees every knob.
    """
    template = (resources.files("stopit_mail") / "default_config.toml").read_text()
    for key, text in iter_documented_keys():
        leaf = key.split(".")[-1]
        pattern = rf"^#?\s*{leaf}\s*=|^#?\s*\[\[?([a-z_]+\.)*{leaf}\]\]?"
        assert re.search(pattern, template, re.MULTILINE), f"setting {key} ({text}) is not in default_config.toml"
        assert text, f"setting {key} has no doc"


def test_organisation_for_alias_addresses() -> None:
    settings = settings_from_dict({"organisations": [ORG]}, Path("."))
    assert settings.organisation_for("STOPIT+k7qd9m2xpa3w@Example.EDU").slug == "main"
    assert settings.organisation_for("someone@example.edu") is None


def test_casework_mistakes_are_reported() -> None:
    org = dict(ORG, offices=[{"name": "Title IX", "addresses": ["nope"]}],
               escalation={"timezone": "Mars/Olympus", "business_hours": "9-5",
                           "business_chain": [{"contact": "primary", "addresses": [], "wait_minutes": 0}]})
    problems = problems_of({"organisations": [org], "staff": [{"name": "Pat", "roles": ["god"], "organisations": ["x"]}]})
    expected = [
        "organisations[0].offices[0].name: found 'Title IX'",
        "organisations[0].offices[0].addresses[0]: found 'nope'",
        "organisations[0].escalation.timezone: found 'Mars/Olympus'",
        "organisations[0].escalation.business_hours: found '9-5'",
        "organisations[0].escalation.business_chain[0].addresses: empty",
        "organisations[0].escalation.business_chain[0].wait_minutes: found 0",
        "staff[0].roles: found 'god'",
        "staff[0].organisations: 'x' is not a configured organisation slug",
    ]
    for fragment in expected:
        assert any(p.startswith(fragment) for p in problems), (fragment, problems)


def test_data_folder_and_key_file_are_built_once_unless_they_follow_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker reaches both several times per message: building them anew cost more than the
    # key file's stat. A relative base still follows the working directory, every time.
    from stopit_mail.sealing import key_path

    (tmp_path / "stopit.toml").write_text(default_config_text("Example U", "stopit@example.edu"))
    settings = load_settings(tmp_path)
    assert settings.data_path == (tmp_path / "data").resolve()
    assert settings.data_path is settings.data_path
    assert key_path(settings) is key_path(settings)
    assert key_path(settings) == settings.data_path / "identity.key"
    absolute = replace(settings, data_dir=str(tmp_path / "elsewhere"))
    assert absolute.data_path == tmp_path / "elsewhere"
    relative = replace(settings, base_dir=Path("base"), data_dir="data")
    for folder in (tmp_path / "one", tmp_path / "two"):
        folder.mkdir()
        monkeypatch.chdir(folder)
        assert relative.data_path == folder.resolve() / "base" / "data"
        assert key_path(relative) == folder.resolve() / "base" / "data" / "identity.key"
