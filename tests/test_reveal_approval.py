"""Two-person reveal: requested, approved by a second person within the window, refused after it.

Issue 11. With `reveal_approval` on, the identity gate itself (not only `stopit reveal`) wants
an approved request of the person revealing, so `cases show --raw` cannot go around it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from stopit_mail.app import App
from stopit_mail.cases.approvals import ApprovalNeeded, require_approval
from stopit_mail.cases.staff import resolve_actor
from stopit_mail.config import load_settings
from stopit_mail.errors import ConfigError
from stopit_mail.models import Case, Event, Report, RevealRequest

from casework_helpers import ingest, report
from factories import cli

REPORTER = "quinn.reporter@example.edu"
STAFF = """
[[staff]]
name = "Rita"
roles = ["staff", "reveal"]

[[staff]]
name = "Ada"
roles = ["staff", "approver"]

[[staff]]
name = "Nora"
roles = ["staff"]

[[staff]]
name = "Max"
roles = ["staff", "reveal", "approver"]
"""


def _configure(app: App, staff: str = STAFF) -> Path:
    config = app.settings.base_dir / "stopit.toml"
    text = config.read_text().replace("reveal_approval = false", "reveal_approval = true")
    config.write_text(text + staff)
    return config


def _anonymous_case(app: App) -> tuple[str, int]:
    ingest(app, report(reporter=REPORTER, name="Quinn Reporter", subject="Anonymous: Fwd: hey"))
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        raw_id = session.scalars(select(Report.raw_message_id)).one()
        assert case.anonymous
        return case.number, raw_id


def test_reveal_needs_a_second_person_within_the_window(app: App) -> None:
    config = _configure(app)
    number, raw_id = _anonymous_case(app)
    first = cli(config, "--as", "Rita", "reveal", number, "--reason", "police request 2026-118")
    assert "waiting for approval" in first and REPORTER not in first
    # Neither the gate's other doors nor the requester herself get around the approval.
    refused = cli(config, "--as", "Rita", "cases", "show", number, "--raw", str(raw_id), "--reason",
                  "police request 2026-118", ok=False)
    assert "needs an approved request" in refused and REPORTER not in refused
    assert "'approver' role" in cli(config, "--as", "Rita", "reveal", "approve", "1", "--reason", "it is fine, really",
                                    ok=False)
    # Someone holding both roles still cannot approve their own request.
    cli(config, "--as", "Max", "reveal", number, "--reason", "second look, ticket 7")
    assert "second person" in cli(config, "--as", "Max", "reveal", "approve", "2", "--reason", "it is fine, really",
                                  ok=False)
    assert "'approver' role" in cli(config, "--as", "Nora", "reveal", "approve", "1", "--reason", "looks right to me",
                                    ok=False)
    assert "approved" in cli(config, "--as", "Ada", "reveal", "approve", "1", "--reason", "warrant seen, ref 118")
    assert "approved by Ada" in cli(config, "--as", "Nora", "reveal", "requests")
    # The approver cannot use the approval; the requester can, within the window.
    assert REPORTER not in cli(config, "--as", "Ada", "reveal", number, "--reason", "curious about this one", ok=False)
    assert REPORTER in cli(config, "--as", "Rita", "reveal", number, "--reason", "police request 2026-118")
    audit = json.loads(cli(config, "--as", "Nora", "audit", number, "--json"))
    rows = [(e["action"], e["actor"], e["detail"]) for e in audit]
    text = json.dumps(audit)
    assert "reveal-requested" in text and "reveal-approved" in text and REPORTER not in text
    assert ("reveal-approved", "Ada") in [(a, who) for a, who, _ in rows]
    assert [(who, d["approved_by"]) for a, who, d in rows if a == "identity-revealed"] == [("Rita", "Ada")]
    # After the window (moved back in time here) the same command only files a new request.
    with app.factory() as session, session.begin():
        session.execute(update(RevealRequest).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    late = cli(config, "--as", "Rita", "reveal", number, "--reason", "police request 2026-118")
    assert "waiting for approval" in late and REPORTER not in late
    assert "expired" in cli(config, "--as", "Rita", "reveal", "requests")


def test_the_window_is_counted_from_the_approval(app: App) -> None:
    config = _configure(app)
    number, _ = _anonymous_case(app)
    cli(config, "--as", "Rita", "reveal", number, "--reason", "police request 2026-118")
    cli(config, "--as", "Ada", "reveal", "approve", "1", "--reason", "warrant seen, ref 118")
    settings = load_settings(config)
    rita = resolve_actor(settings, "Rita")
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        approved_at = session.scalars(select(RevealRequest.decided_at)).one()
        approved_at = approved_at if approved_at.tzinfo else approved_at.replace(tzinfo=UTC)
        assert require_approval(session, settings, rita, case, now=approved_at + timedelta(minutes=59)) is not None
        with pytest.raises(ApprovalNeeded):
            require_approval(session, settings, rita, case, now=approved_at + timedelta(minutes=61))
        assert session.scalars(select(Event.action).where(Event.action == "identity-revealed")).all() == []


def test_denied_requests_never_reveal(app: App) -> None:
    config = _configure(app)
    number, _ = _anonymous_case(app)
    cli(config, "--as", "Rita", "reveal", number, "--reason", "just want to know who")
    assert "denied" in cli(config, "--as", "Ada", "reveal", "deny", "1", "--reason", "no legal basis given")
    again = cli(config, "--as", "Rita", "reveal", number, "--reason", "just want to know who")
    assert "waiting for approval" in again and REPORTER not in again
    assert "already denied by Ada" in cli(config, "--as", "Ada", "reveal", "approve", "1", "--reason",
                                          "changed my mind now", ok=False)


def test_approval_without_a_second_person_is_a_config_error(app: App) -> None:
    config = _configure(app, '\n[[staff]]\nname = "Rita"\nroles = ["staff", "reveal", "approver"]\n')
    with pytest.raises(ConfigError, match="reveal_approval"):
        load_settings(config)
