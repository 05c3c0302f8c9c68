"""`stopit ingest` files each message in the organisation it was sent to, and can stay silent."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from stopit_mail.app import open_app
from stopit_mail.ingest.sources import recipients_from_headers
from stopit_mail.models import Case, Event, OutboxMessage

from casework_helpers import offending_message, report
from factories import cli, write_two_org_config


def _installed(tmp_path: Path) -> Path:
    config = write_two_org_config(tmp_path)
    open_app(config).close()  # creates the schema, as `stopit init` would
    return config


def _message(tmp_path: Path, name: str, headers: bytes = b"", wrapper: str = "Please help me with this.") -> Path:
    path = tmp_path / name
    original = offending_message(body=f"Offending words sent to {name}.", message_id=f"<{name}@example.net>")
    path.write_bytes(headers + report(wrapper=wrapper, original=original))
    return path


def _cases(config: Path) -> dict[str, str]:
    app = open_app(config)
    try:
        with app.factory() as session:
            return {c.number: c.organisation for c in session.scalars(select(Case))}
    finally:
        app.close()


def test_delivery_headers_are_read_from_the_head_only() -> None:
    head = b"Delivered-To: Stopit@South.Example\r\nX-Original-To: other@x.example\r\nSubject: x\r\n\r\n"
    assert recipients_from_headers(head + b"Delivered-To: body@x.example\r\n") == ["stopit@south.example"]
    assert recipients_from_headers(b"Subject: none\r\n\r\nDelivered-To: a@b.example\r\n") == []


def test_each_message_goes_to_the_organisation_it_was_sent_to(tmp_path: Path) -> None:
    config = _installed(tmp_path)
    south = _message(tmp_path, "south.eml", b"Delivered-To: stopit@south.example\r\n", "south words")
    north = _message(tmp_path, "north.eml", b"X-Original-To: stopit@north.example\r\n", "north words")
    out = json.loads(cli(config, "--as", "Ada", "ingest", "--json", str(south), str(north)))
    assert out["stored"] == 2 and out["errors"] == []
    assert sorted(_cases(config).values()) == ["north", "south"]
    # The pipe route names the recipient; it wins over any header.
    forced = _message(tmp_path, "forced.eml", b"Delivered-To: stopit@north.example\r\n", "forced words")
    cli(config, "--as", "Ada", "ingest", "--recipient", "stopit@south.example", str(forced))
    assert sorted(_cases(config).values()) == ["north", "south", "south"]


def test_a_message_naming_no_organisation_is_refused_not_guessed(tmp_path: Path) -> None:
    config = _installed(tmp_path)
    lost = _message(tmp_path, "lost.eml", b"", "lost words")
    output = cli(config, "--as", "Ada", "ingest", str(lost), ok=False)
    assert "is not the mailbox of any organisation" in output and "--recipient" in output
    assert _cases(config) == {}


def test_a_historical_import_mails_nobody(tmp_path: Path) -> None:
    config = _installed(tmp_path)
    old = _message(tmp_path, "old.eml", b"Delivered-To: stopit@north.example\r\n", "an old report from 2019")
    out = cli(config, "--as", "Ada", "ingest", "--no-ack", str(old))
    assert out.startswith("stored 1, processed 1")
    app = open_app(config)
    try:
        with app.factory() as session:
            assert session.scalars(select(OutboxMessage)).all() == []
            skipped = session.scalars(select(Event).where(Event.action == "acknowledgement-skipped")).one()
            assert skipped.detail["reason"] == "historical import (stopit ingest --no-ack)"
    finally:
        app.close()


def test_the_same_message_reported_to_two_organisations_makes_two_cases(tmp_path: Path) -> None:
    config = _installed(tmp_path)
    # One harasser's message, reported by a student of each school: never one shared case.
    same = offending_message(body="The same threat, sent to both schools.", message_id="<same@example.net>")
    south, north = tmp_path / "s.eml", tmp_path / "n.eml"
    south.write_bytes(b"Delivered-To: stopit@south.example\r\n" + report(wrapper="south school", original=same))
    north.write_bytes(b"Delivered-To: stopit@north.example\r\n" + report(wrapper="north school", original=same))
    cli(config, "--as", "Ada", "ingest", str(south), str(north))
    assert sorted(_cases(config).values()) == ["north", "south"]
