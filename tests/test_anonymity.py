"""Anonymous reporters: sealed at intake, invisible to staff, revealed only deliberately."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from stopit_mail.app import App
from stopit_mail.cases.anonymity import reveal
from stopit_mail.cases.codes import format_code
from stopit_mail.cases.messaging import reply_to_reporter
from stopit_mail.cases.queries import get_case
from stopit_mail.cases.staff import Actor, PermissionDenied
from stopit_mail.cli import main
from stopit_mail.errors import StopitError
from stopit_mail.models import Event, OutboxMessage
from stopit_mail.outbound.sender import deliver_due

from casework_helpers import ingest, latest_case, report

SECRET = "sasha.quinn@example.edu"


def _anonymous_case(app: App) -> str:
    ingest(app, report(reporter=SECRET, name="Sasha Quinn", subject="Fwd: anonymous please",
                       wrapper="Please keep this anonymous, I am scared"), mail_from=SECRET)
    return latest_case(app).number


def _database_dump(app: App) -> str:
    """Every readable column of every table except the raw bytes and the outbox content."""
    chunks = []
    with app.engine.connect() as conn:
        for table in ("cases", "reports", "evidence", "parties", "events", "raw_messages"):
            columns = [c for c in conn.execute(text(f"SELECT * FROM {table}")).keys() if c != "content"]
            for row in conn.execute(text(f"SELECT {', '.join(columns)} FROM {table}")):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks).lower()


def test_anonymous_report_is_sealed_everywhere_staff_look(app: App) -> None:
    number = _anonymous_case(app)
    dump = _database_dump(app)
    assert SECRET not in dump and "sasha" not in dump
    runner = CliRunner()
    config = str(app.settings.base_dir / "stopit.toml")
    shown = runner.invoke(main, ["-c", config, "cases", "show", number, "--json"]).output
    assert SECRET not in shown and "Sasha" not in shown
    detail = json.loads(shown)
    assert detail["anonymous"] is True and detail["reports"][0]["reporter"] == {"name": None, "address": None}
    table = runner.invoke(main, ["-c", config, "cases", "show", number], env={"COLUMNS": "250"}).output
    assert f"anonymous (code {format_code(detail['reports'][0]['code'])})" in table


def test_acknowledgement_reaches_the_anonymous_reporter_without_storing_the_address(app: App) -> None:
    _anonymous_case(app)
    with app.factory() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert row.recipients[0].startswith("sealed:")
        assert SECRET.encode() not in row.content
    assert deliver_due(app.factory, app.settings) == {"sent": 1}
    delivered = list((app.settings.data_path / "outbox" / "new").iterdir())
    assert len(delivered) == 1 and f"X-Stopit-Envelope-To: {SECRET}".encode() in delivered[0].read_bytes()


def test_staff_reply_goes_from_the_alias_to_the_sealed_reporter(app: App) -> None:
    number = _anonymous_case(app)
    with app.factory() as session, session.begin():
        case = get_case(session, number)
        row = reply_to_reporter(session, app.settings, Actor("Pat", restricted=False), case, "Thank you, we are on it.")
        assert row.recipients[0].startswith("sealed:")
        assert f"From: Example University stopit <stopit+{case.reporter_code}@example.edu>".encode() in row.content
        assert b"Pat" not in row.content


def test_reveal_needs_the_role_and_a_reason_and_is_audited(app: App) -> None:
    from stopit_mail.config import StaffMember

    number = _anonymous_case(app)
    app.settings.staff = [StaffMember(name="Pat", roles=["staff"]), StaffMember(name="Dean", roles=["staff", "reveal"])]
    from stopit_mail.cases.staff import resolve_actor

    with app.factory() as session, session.begin():
        case = get_case(session, number)
        with pytest.raises(PermissionDenied, match="'reveal' role"):
            reveal(session, app.settings, resolve_actor(app.settings, "Pat"), case, "subpoena 2026-17 from court")
        with pytest.raises(StopitError, match="reason"):
            reveal(session, app.settings, resolve_actor(app.settings, "Dean"), case, "")
    with app.factory() as session, session.begin():
        case = get_case(session, number)
        identities = reveal(session, app.settings, resolve_actor(app.settings, "Dean"), case, "subpoena 2026-17 from court")
        assert [(i.address, i.name) for i in identities] == [(SECRET, "Sasha Quinn")]
    with app.factory() as session:
        event = session.scalars(select(Event).where(Event.action == "identity-revealed")).one()
        assert (event.actor, event.detail["reason"], event.automatic) == ("Dean", "subpoena 2026-17 from court", False)


def test_raw_bytes_of_an_anonymous_report_are_a_reveal(app: App, tmp_path: Path) -> None:
    number = _anonymous_case(app)
    config = str(app.settings.base_dir / "stopit.toml")
    detail = json.loads(CliRunner().invoke(main, ["-c", config, "cases", "show", number, "--json"]).output)
    raw_id = str(detail["reports"][0]["raw_message_id"])
    refused = CliRunner().invoke(main, ["-c", config, "--as", "Pat", "cases", "show", number, "--raw", raw_id])
    assert refused.exit_code == 1 and "reason" in refused.output
    out = tmp_path / "raw.eml"
    ok = CliRunner().invoke(main, ["-c", config, "--as", "Pat", "cases", "show", number, "--raw", raw_id,
                                   "-o", str(out), "--reason", "police request reference 4711"])
    assert ok.exit_code == 0, ok.output
    assert SECRET.encode() in out.read_bytes()
    with app.factory() as session:
        assert session.scalars(select(Event.actor).where(Event.action == "identity-revealed")).all() == ["Pat"]


def test_organisation_default_anonymity(app: App) -> None:
    app.settings.organisations[0].anonymous_by_default = True
    ingest(app, report(reporter="lee@example.edu", subject="Fwd: this"))
    assert latest_case(app).anonymous is True


def test_an_address_the_reporter_writes_in_their_words_is_sealed_with_them(app: App) -> None:
    """A signature's second address is theirs as likely as not: sealed, never readable in the database."""
    home = "s.q.private@mail.example"
    ingest(app, report(reporter=SECRET, name="Sasha Quinn", subject="Fwd: anonymous please",
                       wrapper=f"Please keep this anonymous, I am scared.\n\nS.\n{home}"), mail_from=SECRET)
    dump = _database_dump(app)
    assert home not in dump and "s.q.private" not in dump
    with app.factory() as session, session.begin():
        case = get_case(session, latest_case(app).number)
        (identity,) = reveal(session, app.settings, Actor("Ada", restricted=False), case, "checking the sealed addresses")
    assert identity.address == SECRET and ("", home) in [tuple(o) for o in identity.others]
