"""Strict configuration: a value that would silently break paging is refused at start-up, by key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from stopit_mail.app import default_config_text, open_app
from stopit_mail.config import settings_from_dict
from stopit_mail.config.casework import parse_read_deadline
from stopit_mail.errors import ConfigError

ORG = {"slug": "main", "name": "Example", "mailboxes": ["stopit@example.edu"]}
STEP = {"contact": "primary", "addresses": ["oncall@example.edu"], "wait_minutes": 5}


def problems_of(table: dict) -> list[str]:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        settings_from_dict(table, Path("."))
    return info.value.problems


@pytest.mark.parametrize(("org", "key"), [
    (dict(ORG, name="Example University\n"), "organisations[0].name"),
    (dict(ORG, name="Example\x00University"), "organisations[0].name"),
    (dict(ORG, name="Example\u202eUniversity"), "organisations[0].name"),
    (dict(ORG, mailboxes=["stopit@example.edu\n"]), "organisations[0].mailboxes[0]"),
    (dict(ORG, escalation={"business_chain": [dict(STEP, addresses=["oncall@example.edu\n"])]}),
     "organisations[0].escalation.business_chain[0].addresses[0]"),
    (dict(ORG, escalation={"business_chain": [dict(STEP, contact="primary\r\n")]}),
     "organisations[0].escalation.business_chain[0].contact"),
    (dict(ORG, escalation={"reviewers": [{"contact": "rev", "addresses": [" rev@example.edu"]}]}),
     "organisations[0].escalation.reviewers[0].addresses[0]"),
    (dict(ORG, escalation={"timezone": "UTC\t"}), "organisations[0].escalation.timezone"),
])
def test_hidden_characters_are_refused_with_the_key_named(org: dict, key: str) -> None:  # type: ignore[type-arg]
    problems = problems_of({"organisations": [org]})
    assert any(p.startswith(f"{key}: found") and "expected plain text" in p for p in problems), problems


@pytest.mark.parametrize("address", [
    "oncall@example", "on call@example.edu", "oncall@@example.edu", "oncall@example..edu", "<oncall@example.edu>",
    "oncall@exa_mple.edu", "on\x7fcall@example.edu", "oncall@-example.edu", ".oncall@example.edu",
])
def test_chain_and_reviewer_addresses_are_validated(address: str) -> None:
    problems = problems_of({"organisations": [dict(ORG, escalation={
        "business_chain": [dict(STEP, addresses=[address])],
        "reviewers": [{"contact": "rev", "addresses": [address]}]})]})
    assert any(p.startswith("organisations[0].escalation.business_chain[0].addresses[0]") for p in problems)
    assert any(p.startswith("organisations[0].escalation.reviewers[0].addresses[0]") for p in problems)


def test_good_addresses_pass() -> None:
    settings = settings_from_dict({"organisations": [dict(ORG, escalation={
        "business_chain": [dict(STEP, addresses=["on.call+pager@example.edu", "5551234567@txt.att.net",
                                                 "desk@localhost"])],
        "reviewers": [{"contact": "rev", "addresses": ["rev@example.edu"]}]})]}, Path("."))
    assert settings.organisations[0].escalation.reviewers[0].contact == "rev"


@pytest.mark.parametrize(("change", "key"), [
    ({"confirm_minutes": 0}, "organisations[0].escalation.confirm_minutes: found 0"),
    ({"read_deadlines": {"urgent": "soon"}}, "organisations[0].escalation.read_deadlines.urgent: found 'soon'"),
    ({"read_deadlines": {"routine": "next-business-morning+x"}}, "read_deadlines.routine: found"),
    ({"read_deadlines": {"emergency": "0m"}}, "read_deadlines.emergency: found '0m'"),
    ({"read_deadlines": {"urgent_after_hours": "1d"}}, "read_deadlines.urgent_after_hours: found '1d'"),
    ({"read_deadlines": {"sometimes": "1h"}}, "read_deadlines.sometimes: unknown key"),
    ({"sms_gateway_domains": ["not a domain"]}, "sms_gateway_domains[0]: found 'not a domain'"),
    ({"reviewers": [{"contact": "rev", "addresses": []}]}, "reviewers[0].addresses: empty"),
])
def test_escalation_values_are_checked(change: dict, key: str) -> None:  # type: ignore[type-arg]
    problems = problems_of({"organisations": [dict(ORG, escalation=change)]})
    assert any(key in p for p in problems), problems


def test_read_deadline_grammar() -> None:
    assert parse_read_deadline("10m") == (False, timedelta(minutes=10))
    assert parse_read_deadline("2h") == (False, timedelta(hours=2))
    assert parse_read_deadline("next-business-morning") == (True, timedelta(0))
    assert parse_read_deadline("next-business-morning+30m") == (True, timedelta(minutes=30))
    for bad in ("", "10", "m", "next-business-morning-1h", "1.5h"):
        with pytest.raises(ValueError):
            parse_read_deadline(bad)


def test_start_up_refuses_a_trailing_newline_in_the_organisation_name(tmp_path: Path) -> None:
    # The failure this prevents: the value passed, and then every emergency was quarantined unpaged.
    text = default_config_text("Example University", "stopit@example.edu")
    (tmp_path / "stopit.toml").write_text(text.replace('name = "Example University"', 'name = "Example University\\n"'))
    with pytest.raises(ConfigError) as info:
        open_app(tmp_path)
    assert any(p.startswith("organisations[0].name:") for p in info.value.problems)
    assert "control character U+000A" in str(info.value)
