"""No readable emergency at the 250 (issue 10), and a lost key still never silences one.

An emergency is sealed at the 250 like every other message; its page facts (the rules that
fired, where, when and who is at risk; never who reported) are stored in their own column. A
copy of the SQLite file and its WAL taken right after the 250 holds neither the reporter nor the
report's words. With the identity key gone the sealed emergency cannot be opened, yet the chain
is paged with where, when and who, and the mailbox alert carries no word of the anonymous report.
"""

from __future__ import annotations

import email
import json
import shutil
import smtplib
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import select

from stopit_mail.app import App, init_installation, open_app
from stopit_mail.cases.pretriage import EMERGENCY
from stopit_mail.models import Case, OutboxMessage, Page, RawMessage
from stopit_mail.processing.runner import process_waiting
from stopit_mail.sealing import BYTES_MAGIC, is_sealed_envelope, key_path

from smtp_helpers import running_server

CHAIN = ('\n[[organisations.escalation.{key}]]\ncontact = "on-call"\naddresses = ["oncall@example.edu"]\n'
         "wait_minutes = 5\n")
SENDER = "quinn.reed@example.org"
# Who reported: the From, the signature, a second address and a place named after them.
IDENTITY = ("quinn", "reed", "example.org", "q.r.home", "mail.example")
# The report's own words, beyond the short where/when phrases a page may carry.
WORDS = ("please help", "he will kill himself", "my friend says", "told me at lunch", "keep me anonymous")


def _home(folder: Path, database_url: str = "") -> Path:
    config = init_installation(folder, "Example University", "stopit@example.edu", database_url)
    text = config.read_text().replace('dns = "online"', 'dns = "offline"')
    chains = CHAIN.format(key="business_chain") + CHAIN.format(key="after_hours_chain")
    config.write_text(text.replace("\n[limits]", chains + "\n[limits]", 1))
    return config


def anonymous_emergency() -> bytes:
    """An anonymous emergency that signs with the reporter's name and two addresses."""
    msg = EmailMessage()
    msg["From"], msg["To"] = f"Quinn Reed <{SENDER}>", "stopit@example.edu"
    msg["Subject"] = "anonymous: please help"
    msg.set_content("My friend says he will kill himself tonight behind the gym. He told me at lunch.\n"
                    "He asked me to meet him at Reed house first. Please keep me anonymous.\n\n"
                    f"Quinn Reed\n{SENDER} / q.r.home@mail.example\n")
    return msg.as_bytes()


def _copy_traces(database: Path, into: Path, needles: tuple[str, ...]) -> list[str]:
    """Copy the database file and its WAL (as a backup or a thief would), then grep the copies."""
    found = []
    into.mkdir(exist_ok=True)
    for path in (database, database.with_name(database.name + "-wal")):
        if not path.exists():
            continue
        shutil.copy(path, into / path.name)
        data = (into / path.name).read_bytes().lower()
        for needle in needles:
            for encoded in (needle.encode("utf-8"), needle.encode("utf-16-le"), json.dumps(needle)[1:-1].encode()):
                if encoded in data:
                    found.append(f"{path.name}: {needle}")
    return found


def _text(row: OutboxMessage) -> str:
    msg = email.message_from_bytes(row.content, policy=default_policy)
    return f"{msg['Subject']}\n{msg.get_content()}"  # type: ignore[attr-defined]


def _outbox(app: App, kind: str) -> list[str]:
    with app.factory() as session:
        return [_text(r) for r in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                                  .order_by(OutboxMessage.id))]


def _assert_facts_only(text: str) -> None:
    lowered = text.lower()
    assert not [w for w in IDENTITY + WORDS if w in lowered], text
    assert "behind the gym" in lowered and "tonight" in lowered and "the reporter's friend" in lowered


def test_an_emergency_is_sealed_at_the_250_and_its_facts_name_nobody(tmp_path: Path) -> None:
    app = open_app(_home(tmp_path))
    database = Path(app.settings.effective_database_url.removeprefix("sqlite:///"))
    try:
        with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            client.sendmail(SENDER, ["stopit@example.edu"], anonymous_emergency())
        # Right after the 250, before any processing: neither who reported nor what they wrote.
        assert _copy_traces(database, tmp_path / "copy1", IDENTITY + WORDS) == []
        with app.factory() as session:
            raw = session.scalars(select(RawMessage)).one()
            assert raw.priority >= EMERGENCY and raw.content.startswith(BYTES_MAGIC)
            assert is_sealed_envelope(raw.mail_from) and raw.peer is None
            facts = raw.page_facts
        assert facts is not None
        stored = json.dumps(facts).lower()
        assert not [w for w in IDENTITY + ("@",) if w in stored], stored
        assert facts["where"] == ["behind the gym"] and "tonight" in facts["when"]
        assert "the reporter's friend" in facts["who"] and facts["reasons"] and "matched_text" not in stored

        # With the key, the worker opens it in memory and processes it into a full page.
        assert [o.status for o in process_waiting(app.factory, app.settings)] == ["processed"]
        with app.factory() as session:
            case = session.scalars(select(Case)).one()
            assert case.urgency == "emergency" and case.anonymous
            assert session.scalars(select(RawMessage)).one().mail_from == "[sealed]"
        (page,) = _outbox(app, "page")
        assert "behind the gym" in page and not [w for w in IDENTITY if w in page.lower()]
        assert _copy_traces(database, tmp_path / "copy2", IDENTITY) == []
    finally:
        app.close()


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_with_the_key_gone_a_sealed_emergency_pages_from_its_facts(tmp_path: Path, any_db_url: str,
                                                                   damage: str) -> None:
    config = _home(tmp_path, "" if any_db_url.startswith("sqlite") else any_db_url)
    app = open_app(config)
    try:
        with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            client.sendmail(SENDER, ["stopit@example.edu"], anonymous_emergency())
    finally:
        app.close()
    if damage == "missing":
        key_path(app.settings).unlink()
    else:
        key_path(app.settings).write_text("not a key")
    app = open_app(config)
    try:
        assert app.key_status is not None and not app.key_status.can_reveal
        (outcome,) = process_waiting(app.factory, app.settings)
        assert outcome.status == "quarantined" and "identity key" in (outcome.reason or "")
        with app.factory() as session:
            case = session.scalars(select(Case)).one()
            assert case.urgency == "emergency" and case.anonymous and case.title.startswith("UNPROCESSED EMERGENCY")
            assert "reed" not in case.title.lower() and "please help" not in case.title.lower()
            assert session.scalars(select(Page.contact)).all() == ["on-call"]
        (page,) = _outbox(app, "page")
        _assert_facts_only(page)
        assert "Where:       behind the gym" in page and "rule " in page
        # The organisation's mailbox is alerted with the references, the reasons and the facts only.
        (alert,) = _outbox(app, "emergency-fallback")
        _assert_facts_only(alert)
        assert f"stored message {outcome.raw_id}" in alert and case.number in alert and "rule " in alert
    finally:
        app.close()


def _poison(subject: str) -> bytes:
    """An emergency the worker cannot process (its header section is far too long): what is known
    comes before the bomb."""
    return (f"From: Quinn Reed <{SENDER}>\r\nTo: stopit@example.edu\r\nSubject: {subject}\r\n"
            f"X-Bomb: a\r\n".encode() + b" x\r\n" * 300_000
            + b"\r\nMy friend says he will kill himself tonight behind the gym.\r\n")


@pytest.mark.parametrize("anonymous", [True, False])
def test_the_fallback_alert_for_an_anonymous_emergency_carries_no_words(tmp_path: Path, anonymous: bool) -> None:
    app = open_app(_home(tmp_path))
    subject = ("anonymous: " if anonymous else "") + "my friend will kill himself tonight behind the gym"
    try:
        with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            client.sendmail(SENDER, ["stopit@example.edu"], _poison(subject))
        (outcome,) = process_waiting(app.factory, app.settings)
        assert outcome.status == "quarantined" and "max_header_bytes" in (outcome.reason or "")
        (alert,) = _outbox(app, "emergency-fallback")
        (page,) = _outbox(app, "page")
        with app.factory() as session:
            case = session.scalars(select(Case)).one()
        assert case.number in alert and f"stored message {outcome.raw_id}" in alert and "rule " in alert
        assert "Where:       behind the gym" in alert and "Where:       behind the gym" in page
        assert "reed" not in page.lower() and "will kill himself" not in page
        if anonymous:
            # The subject and first words can identify: only references, reasons and facts.
            assert "will kill himself" not in alert and "reed" not in alert.lower() and "max_header_bytes" not in alert
            assert case.anonymous and "kill" not in case.title
        else:
            # Nobody to protect: whoever reads the mailbox sees what the message says.
            assert f"Subject: {subject}" in alert and "max_header_bytes" in alert
            assert not case.anonymous and subject in case.title
    finally:
        app.close()
