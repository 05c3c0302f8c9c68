"""Identity keys: never silently replaced, loud when lost, and a lost key never silences an emergency.

Issue 10, item 8: a missing key used to be replaced by a new one at the next command, after
which every anonymous reporter was unreachable and the worker crashed on the first sealed
outbox row. Now sealing needs only the public key (kept in the database), the loss is reported
by every start and `stopit key check`, and intake and paging go on: every message is sealed at
the 250 and waits in quarantine for the restored key, and an emergency among them pages the
chain from the page facts its intake recorded (where, when, who; never who reported).
"""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from stopit_mail.app import init_installation, open_app
from stopit_mail.cases.anonymity import reveal
from stopit_mail.cases.staff import Actor
from stopit_mail.models import Case, OutboxMessage, Page, RawMessage, Report
from stopit_mail.outbound.sender import deliver_due
from stopit_mail.processing.runner import process_waiting
from stopit_mail.sealing import is_sealed_bytes, key_path, public_key_path

from factories import cli
from smtp_helpers import running_server, wait_until

ADMIN = Actor("Ada", restricted=False)
CHAIN = ("\n[[organisations.escalation.{key}]]\ncontact = \"on-call\"\naddresses = [\"oncall@example.edu\"]\n"
         "wait_minutes = 5\n")


def _home(folder: Path) -> Path:
    config = init_installation(folder, "Example University", "stopit@example.edu")
    text = config.read_text().replace('dns = "online"', 'dns = "offline"')
    chains = CHAIN.format(key="business_chain") + CHAIN.format(key="after_hours_chain")
    config.write_text(text.replace("\n[limits]", chains + "\n[limits]", 1))
    return config


def _anonymous(text: str, sender: str = "quinn.reed@example.org") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Quinn Reed <{sender}>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "anonymous report"
    msg.set_content(f"{text}\n\n---------- Forwarded message ---------\nFrom: Mean <mean@bad.example>\n"
                    f"Date: Mon, 2 Mar 2026 09:00:00 -0500\nSubject: hey\nTo: {sender}\n\nyou will be sorry\n")
    return msg.as_bytes()


def test_a_lost_key_is_loud_never_replaced_and_never_silences_an_emergency(tmp_path: Path) -> None:
    config = _home(tmp_path)
    app = open_app(config)
    secret_file = key_path(app.settings)
    backup = tmp_path / "offline" / "identity.key.backup"
    assert "written to" in cli(config, "key", "backup", str(backup))
    assert backup.read_bytes().strip() == secret_file.read_bytes().strip()
    with running_server(app, run_worker=False) as server:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            client.sendmail("quinn.reed@example.org", ["stopit@example.edu"], _anonymous("Please look."))
        assert wait_until(lambda: _stored(app) == 1, 20)
    process_waiting(app.factory, app.settings)
    app.close()

    secret_file.unlink()  # lost
    public_key_path(app.settings).unlink()  # and the public key file too: the database still has it
    app = open_app(config)
    assert not secret_file.exists(), "a missing key must never be silently replaced"
    assert app.key_status is not None and app.key_status.can_seal and not app.key_status.can_reveal
    assert "REVEAL IMPOSSIBLE" in cli(config, "status")
    assert "no identity key" in cli(config, "key", "check", ok=False)
    assert json.loads(cli(config, "status", "--json"))["identity_key"]["can_reveal"] is False

    # Intake and paging go on. Both reports are sealed at the 250 and, as nothing can open them,
    # set aside with a precise reason; the emergency among them pages the chain from its page facts.
    with running_server(app, run_worker=False) as server:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            client.sendmail("sam.lee@example.org", ["stopit@example.edu"],
                            _anonymous("I am going to kill myself tonight.", sender="sam.lee@example.org"))
            client.sendmail("kim.ro@example.org", ["stopit@example.edu"],
                            _anonymous("He keeps writing to me.", sender="kim.ro@example.org"))
        assert wait_until(lambda: _stored(app) == 3, 20)
    outcomes = process_waiting(app.factory, app.settings)
    assert [o.status for o in outcomes] == ["quarantined", "quarantined"]
    for waiting in outcomes:
        assert "identity key" in (waiting.reason or "") and "quarantine retry" in (waiting.reason or "")
    with app.factory() as session:
        emergency, held = (session.get(RawMessage, o.raw_id) for o in outcomes)
        assert emergency is not None and held is not None
        assert is_sealed_bytes(emergency.content) and is_sealed_bytes(held.content)
        assert "kim.ro" not in (held.mail_from or "") and "sam.lee" not in (emergency.mail_from or "")
        assert session.scalars(select(Page.contact)).all() == ["on-call"]
        page = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "page")).one()
        assert b"tonight" in page.content and b"sam" not in page.content.lower()
    # The worker delivers the page, and keeps the acknowledgement sealed to the first (anonymous)
    # reporter for when the key is back instead of crashing on it.
    counts = deliver_due(app.factory, app.settings)
    assert counts.get("sent", 0) >= 1
    with app.factory() as session:
        acks = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "acknowledgement")).all()
        assert acks and all(a.status.value == "queued" for a in acks)
        assert all("identity key" in (a.last_error or "") for a in acks)
    app.close()

    # Restoring the backup makes every sealed value readable again, sealed before and during the
    # loss; the report set aside is processed once retried.
    secret_file.write_bytes(backup.read_bytes())
    app = open_app(config)
    assert app.key_status is not None and app.key_status.can_reveal and not app.key_status.problems
    for waiting in outcomes:
        assert "processed" in cli(config, "--as", "Ada", "quarantine", "retry", str(waiting.raw_id))
    with app.factory() as session, session.begin():
        found = [i.address for c in session.scalars(select(Case)) for i in reveal(session, app.settings, ADMIN, c,
                                                                                    "restoring after key loss")]
        assert sorted(found) == ["kim.ro@example.org", "quinn.reed@example.org", "sam.lee@example.org"]
    app.close()


def test_a_corrupt_key_is_reported_not_replaced(tmp_path: Path) -> None:
    config = _home(tmp_path)
    app = open_app(config)
    key_path(app.settings).write_bytes(b"this is not a key")
    app.close()
    app = open_app(config)
    assert app.key_status is not None and not app.key_status.can_reveal
    assert key_path(app.settings).read_bytes() == b"this is not a key"
    assert "corrupt" in cli(config, "key", "check", ok=False)
    app.close()


def test_rotation_reseals_everything_with_the_new_key(tmp_path: Path) -> None:
    config = _home(tmp_path)
    app = open_app(config)
    with running_server(app, run_worker=False) as server:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            client.sendmail("quinn.reed@example.org", ["stopit@example.edu"], _anonymous("Please look."))
        assert wait_until(lambda: _stored(app) == 1, 20)
    process_waiting(app.factory, app.settings)
    with app.factory() as session:
        before = session.scalars(select(Report.sealed_identity)).one()
        old_key = key_path(app.settings).read_bytes()
    assert "re-sealed" in cli(config, "--as", "Ada", "key", "rotate", "--yes")
    assert key_path(app.settings).read_bytes() != old_key
    app.close()
    app = open_app(config)
    assert app.key_status is not None and app.key_status.can_reveal and not app.key_status.problems
    with app.factory() as session, session.begin():
        report = session.scalars(select(Report)).one()
        assert report.sealed_identity != before
        case = session.scalars(select(Case)).one()
        assert [i.address for i in reveal(session, app.settings, ADMIN, case, "checking the rotation")] == [
            "quinn.reed@example.org"]
    counts = deliver_due(app.factory, app.settings)
    assert counts == {"sent": 1}
    app.close()


def _stored(app) -> int:  # type: ignore[no-untyped-def]
    with app.factory() as session:
        return len(session.scalars(select(RawMessage.id)).all())
