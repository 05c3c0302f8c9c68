"""The quarantine as staff read it: readable, scoped to their organisations, sealed where needed.

An emergency that could not be processed (here: over the size limit) must be visible at a
glance in `stopit quarantine list`, with who sent it, when, how big and why it was set aside;
a staff member of another organisation must not see it at all; an anonymous reporter's
message shows neither their address nor their words without an audited reveal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from stopit_mail.app import App, open_app
from stopit_mail.cases import message_head
from stopit_mail.config import Settings
from stopit_mail.models import Event, RawMessage, RawStatus
from stopit_mail.sealing import is_sealed_bytes, open_bytes

from casework_helpers import ingest
from factories import cli

SETUP = """
[[organisations]]
slug = "north"
name = "North High"
mailboxes = ["stopit@north.example.edu"]

[[staff]]
name = "Sam"
roles = ["staff"]
organisations = ["main"]

[[staff]]
name = "Nia"
roles = ["staff", "reveal"]
organisations = ["north"]

[[staff]]
name = "Rae"
roles = ["staff", "reveal"]
organisations = ["main"]

[[staff]]
name = "Ada"
roles = ["admin"]

[[staff]]
name = "Noa"
roles = ["admin"]
organisations = ["north"]
"""
PADDING = "\n" + "background " * 400  # over the 2 KB limit set below


def _message(sender: str, subject: str, text: str, to: str = "stopit@example.edu") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 30 Nov 2026 02:14:00 +0000"
    msg.set_content(text + PADDING)
    return msg.as_bytes()


@pytest.fixture
def setup(any_app: App) -> Iterator[tuple[Path, App]]:
    """SQLite and PostgreSQL: the view reads the head of stored bytes in SQL (substr on BLOB/bytea)."""
    config = any_app.settings.base_dir / "stopit.toml"
    text = config.read_text().replace("max_message_bytes = 104857600", "max_message_bytes = 2048")
    config.write_text(text + SETUP)
    small = open_app(config)
    try:
        yield config, small
    finally:
        small.close()


def _quarantined(app: App) -> list[int]:
    with app.factory() as session:
        return list(session.scalars(select(RawMessage.id).where(RawMessage.status == RawStatus.QUARANTINED)
                                    .order_by(RawMessage.id)))


def test_an_emergency_set_aside_is_visible_readably(setup: tuple[Path, App]) -> None:
    config, app = setup
    ingest(app, _message("Sam Student <sam.student@example.edu>", "new timetable", "When is the exam?"))
    ingest(app, _message("Kai Friend <kai.friend@example.edu>", "please help Sofia",
                         "Sofia took pills, she is in Baker House room 312 and wants to kill herself."))
    routine, emergency = _quarantined(app)
    listing = cli(config, "--as", "Sam", "quarantine", "list")
    # The emergency comes first and is announced above the table.
    assert f"POSSIBLE EMERGENCY set aside: read it now with `stopit quarantine show {emergency}`" in listing
    assert listing.index("please help Sofia") < listing.index("new timetable")
    for expected in ("kai.friend@example.edu", "KB", "above limits.max_message_bytes", "showing 2 of 2"):
        assert expected in listing, expected
    rows = json.loads(cli(config, "--as", "Sam", "quarantine", "list", "--json"))
    assert [(r["id"], r["possible_emergency"]) for r in rows] == [(emergency, True), (routine, False)]
    assert rows[0]["sender"] == "Kai Friend <kai.friend@example.edu>" and rows[0]["size"] > 2048
    shown = cli(config, "--as", "Sam", "quarantine", "show", str(emergency))
    for expected in ("POSSIBLE EMERGENCY", "from:     Kai Friend <kai.friend@example.edu>", "subject:  please help Sofia",
                     "date:     Mon, 30 Nov 2026 02:14:00 +0000", "Baker House room 312", "KB"):
        assert expected in shown, (expected, shown)
    limited = cli(config, "--as", "Sam", "quarantine", "list", "--limit", "1")
    assert "showing 1 of 2 (use --limit)" in limited


def test_staff_see_only_their_organisations_quarantine(setup: tuple[Path, App]) -> None:
    config, app = setup
    ingest(app, _message("a@example.org", "for main", "main school"))
    ingest(app, _message("b@example.org", "for north", "north school", to="stopit@north.example.edu"),
           rcpt="stopit@north.example.edu")
    main_id, north_id = _quarantined(app)
    assert [r["id"] for r in json.loads(cli(config, "--as", "Sam", "quarantine", "list", "--json"))] == [main_id]
    assert [r["id"] for r in json.loads(cli(config, "--as", "Nia", "quarantine", "list", "--json"))] == [north_id]
    assert {r["id"] for r in json.loads(cli(config, "--as", "Ada", "quarantine", "list", "--json"))} == \
        {main_id, north_id}
    refused = cli(config, "--as", "Sam", "quarantine", "show", str(north_id), ok=False)
    assert "does not work for the organisation" in refused and "north school" not in refused
    # An administrator of one organisation retries only its messages.
    refused = cli(config, "--as", "Noa", "quarantine", "retry", str(main_id), ok=False)
    assert "does not work for the organisation" in refused and _quarantined(app) == [main_id, north_id]


def test_an_anonymous_reporters_message_is_sealed_until_revealed(setup: tuple[Path, App]) -> None:
    config, app = setup
    ingest(app, _message("Zoe Ward <zoe.ward@example.org>", "Anonymous: he will hurt me",
                         "Please keep me anonymous. Zoe"), rcpt="stopit@north.example.edu")
    (raw_id,) = _quarantined(app)
    listing = cli(config, "--as", "Nia", "quarantine", "list", "--json")
    shown = cli(config, "--as", "Nia", "quarantine", "show", str(raw_id))
    for text in (listing, shown):
        assert "zoe" not in text.lower() and "sealed" in text
    assert "words:    withheld" in shown
    revealed = cli(config, "--as", "Nia", "quarantine", "show", str(raw_id), "--reason", "safeguarding check 12")
    assert "zoe.ward@example.org" in revealed and "Please keep me anonymous" in revealed
    with app.factory() as session:
        audit = session.scalars(select(Event).where(Event.action == "identity-revealed")).one()
        assert (audit.actor, audit.detail["reason"]) == ("Nia", "safeguarding check 12")


def test_a_too_big_anonymous_report_is_withheld_until_revealed_even_once_paged(setup: tuple[Path, App]) -> None:
    """Set aside before parsing, the message has no stored subject: the gate reads it from the head.

    The emergency was paged, so its message belongs to an (ordinary) fallback case: neither
    `quarantine show` nor `cases show --raw` may show it without the reveal role.
    """
    config, app = setup
    ingest(app, _message("Zoe Ward <zoe.ward@example.org>", "Anonymous: please help me",
                         "I took pills and I want to kill myself tonight. Zoe"), mail_from="zoe.ward@example.org")
    ingest(app, _message("Zoe Ward <zoe.ward@example.org>", "Anonymous: the bus", "He waits at the bus stop. Zoe"),
           mail_from="zoe.ward@example.org")
    emergency, routine = _quarantined(app)
    with app.factory() as session:
        raw = session.get(RawMessage, emergency)
        assert raw is not None and raw.subject in (None, "") and raw.case_id is not None
        number = json.loads(cli(config, "--as", "Sam", "cases", "list", "--json"))[0]["number"]
    views = [cli(config, "--as", "Sam", "quarantine", "list", "--json")]
    for raw_id in (emergency, routine):
        shown = cli(config, "--as", "Sam", "quarantine", "show", str(raw_id))
        assert "words:    withheld" in shown
        views.append(shown)
    views.append(cli(config, "--as", "Sam", "cases", "show", number, "--raw", str(emergency), "--reason",
                     "checking the evidence", ok=False))
    assert "reveal" in views[-1]
    cli(config, "--as", "Sam", "cases", "export", number, "-o", str(config.parent / "package"))
    views += [p.read_text("utf-8", "replace") for p in (config.parent / "package").rglob("*") if p.is_file()]
    for view in views:
        assert "zoe" not in view.lower(), view
    with app.factory() as session:
        assert not session.scalars(select(Event).where(Event.action == "identity-revealed")).all()
    raw_bytes = cli(config, "--as", "Rae", "cases", "show", number, "--raw", str(emergency), "--reason",
                    "safeguarding check 7")
    revealed = cli(config, "--as", "Rae", "quarantine", "show", str(routine), "--reason", "safeguarding check 8")
    assert "zoe.ward@example.org" in raw_bytes and "zoe.ward@example.org" in revealed
    with app.factory() as session:
        audits = session.scalars(select(Event).where(Event.action == "identity-revealed").order_by(Event.id)).all()
        assert [(a.actor, a.detail["reason"], a.detail["what"]) for a in audits] == [
            ("Rae", "safeguarding check 7", f"stored message {emergency}"),
            ("Rae", "safeguarding check 8", f"stored message {routine}")]


def test_a_too_big_answer_through_an_anonymous_reporters_alias_is_withheld(setup: tuple[Path, App]) -> None:
    """Set aside before it was filed, an answer to the reporter's alias names them by its sender alone."""
    config, app = setup
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Zoe Ward <zoe.ward@example.org>", "stopit@example.edu", "Anonymous: bus"
    msg.set_content("He waits for me at the bus stop every day.")
    ingest(app, msg.as_bytes(), mail_from="zoe.ward@example.org")
    number = json.loads(cli(config, "--as", "Sam", "cases", "list", "--json"))[0]["number"]
    code = json.loads(cli(config, "--as", "Sam", "cases", "show", number, "--json"))["reports"][0]["code"]
    alias = f"stopit+{code}@example.edu"
    ingest(app, _message("Zoe Ward <zoe.ward@example.org>", "Re: your report", "It happened again. Zoe", to=alias),
           rcpt=alias, mail_from="zoe.ward@example.org")
    (raw_id,) = _quarantined(app)
    shown = cli(config, "--as", "Sam", "quarantine", "show", str(raw_id))
    listing = cli(config, "--as", "Sam", "quarantine", "list", "--json")
    assert "words:    withheld" in shown and "zoe" not in (shown + listing).lower()


def test_a_sealed_message_is_opened_once_per_view(setup: tuple[Path, App], monkeypatch: pytest.MonkeyPatch) -> None:
    """Sealed at the 250, a set-aside message opens only whole: the gate (did it ask for
    anonymity?) and the view (its head) share one opening, in the listing and in `show`."""
    config, app = setup
    ingest(app, _message("Sam Student <sam.student@example.edu>", "new timetable", "When is the exam?"))
    ingest(app, _message("Zoe Ward <zoe.ward@example.org>", "Anonymous: he will hurt me", "Keep me anonymous."))
    ordinary, anonymous = _quarantined(app)
    with app.factory() as session:
        assert all(is_sealed_bytes(raw.content) for raw in session.scalars(select(RawMessage)))
    opened: list[int] = []

    def counting_open(settings: Settings, content: bytes) -> bytes:
        opened.append(len(content))
        return open_bytes(settings, content)

    monkeypatch.setattr(message_head, "open_bytes", counting_open)
    rows = json.loads(cli(config, "--as", "Rae", "quarantine", "list", "--json"))
    assert [r["subject"] for r in rows] == ["new timetable", None] and len(opened) == 2
    for raw_id in (ordinary, anonymous):
        opened.clear()
        cli(config, "--as", "Rae", "quarantine", "show", str(raw_id))
        assert len(opened) == 1, raw_id
    opened.clear()
    revealed = cli(config, "--as", "Rae", "quarantine", "show", str(anonymous), "--reason", "safeguarding check 13")
    assert "zoe.ward@example.org" in revealed and len(opened) == 1
