"""Sealed from the 250 on (issue 10): no reporter sits readable in the raw store while mail waits.

Every store path seals a message's bytes and envelope with the identity public key before the
commit that answers 250 (an emergency too: `test_emergency_sealed`); the worker opens them in
memory. A copy of the SQLite file and its WAL
taken right after the 250, before any processing, holds no trace of an anonymous reporter.
After processing an anonymous report stays sealed; an ordinary one is stored readable again.
"""

from __future__ import annotations

import json
import shutil
import smtplib
from pathlib import Path

from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.keys import rotate
from stopit_mail.models import Case, RawMessage
from stopit_mail.processing.runner import process_waiting
from stopit_mail.sealing import BYTES_MAGIC, open_bytes, public_key, seal_with

from casework_helpers import ZOE, ZOE_SCHOOL, zoe_anonymous_report
from factories import cli
from smtp_helpers import report_message, running_server

NEEDLES = (ZOE, "zoë.ward", "zoe.ward", "zoë ward", "zoe ward", ZOE_SCHOOL, "xn--exmple-cua.org")


def _copy_traces(database: Path, into: Path) -> list[str]:
    """Copy the database file and its WAL (as a backup or a thief would), then grep the copies."""
    found = []
    into.mkdir(exist_ok=True)
    for path in (database, database.with_name(database.name + "-wal")):
        if not path.exists():
            continue
        data = shutil.copy(path, into / path.name) and (into / path.name).read_bytes().lower()
        for needle in NEEDLES:
            for encoded in (needle.lower().encode("utf-8"), needle.lower().encode("utf-16-le")):
                if encoded in data:
                    found.append(f"{path.name}: {needle}")
    return found


def test_a_copy_of_the_database_right_after_the_250_holds_no_reporter(app: App, tmp_path: Path) -> None:
    database = Path(app.settings.effective_database_url.removeprefix("sqlite:///"))
    with running_server(app, run_worker=False) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail(ZOE, ["stopit@example.edu"], zoe_anonymous_report(), mail_options=["SMTPUTF8"])
        client.sendmail("ordinary@example.org", ["stopit@example.edu"], report_message(7, "ordinary@example.org"))
        # Stored (250), not processed: nothing readable in the file or its log.
        assert _copy_traces(database, tmp_path / "copy1") == []
    assert [o.status for o in process_waiting(app.factory, app.settings)] == ["processed", "processed"]
    assert _copy_traces(database, tmp_path / "copy2") == []
    with app.factory() as session:
        anonymous, ordinary = session.scalars(select(RawMessage).order_by(RawMessage.id)).all()
        # The anonymous report stays sealed as stored; the ordinary one is readable again, so a
        # lost key never costs the originals of ordinary cases.
        assert anonymous.content.startswith(BYTES_MAGIC) and anonymous.mail_from == "[sealed]"
        assert ordinary.content.startswith(b"From: Reporter 7 <ordinary@example.org>")
        assert (ordinary.mail_from, ordinary.peer) == ("ordinary@example.org", "127.0.0.1")
        numbers = {raw.id: session.get(Case, raw.case_id).number for raw in (anonymous, ordinary)}  # type: ignore[union-attr]
    # Staff still read the ordinary original; the anonymous one opens through the gate only.
    config = app.settings.base_dir / "stopit.toml"
    out = tmp_path / "ordinary.eml"
    cli(config, "cases", "show", numbers[2], "--raw", "2", "-o", str(out))
    assert out.read_bytes().startswith(b"From: Reporter 7 <ordinary@example.org>")
    assert "reveal" in cli(config, "cases", "show", numbers[1], "--raw", "1", "-o", str(out), ok=False)


def test_a_waiting_message_is_gated_by_what_it_asked_for(app: App) -> None:
    """A message set aside before processing: staff see an ordinary sender's envelope (opened in
    memory), never an anonymous reporter's."""
    with running_server(app, run_worker=False) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail(ZOE, ["stopit@example.edu"], zoe_anonymous_report(), mail_options=["SMTPUTF8"])
        client.sendmail("ordinary@example.org", ["stopit@example.edu"], report_message(8, "ordinary@example.org"))
    config = app.settings.base_dir / "stopit.toml"
    anonymous = json.loads(cli(config, "quarantine", "show", "1", "--json"))
    ordinary = json.loads(cli(config, "quarantine", "show", "2", "--json"))
    assert anonymous["mail_from"].startswith("[sealed") and anonymous["peer"].startswith("[sealed")
    assert (ordinary["mail_from"], ordinary["peer"]) == ("ordinary@example.org", "127.0.0.1")
    # Sealed at the 250 both, yet the ordinary one is readable in the quarantine view (opened in
    # memory), the anonymous one is not.
    assert ordinary["subject"] == "Fw: message number 8" and "ordinary@example.org" in ordinary["sender"]
    assert anonymous["sealed"] and "zo" not in json.dumps(anonymous, ensure_ascii=False).lower()


def test_a_message_sealed_with_the_key_just_rotated_away_still_opens(app: App) -> None:
    """A listener that sealed with the old public key while `stopit key rotate` ran loses nothing."""
    old_public = public_key(app.settings)
    with app.factory() as session, session.begin():
        rotate(app.settings, session)
    late = BYTES_MAGIC + seal_with(old_public, b"Subject: stored during the rotation\r\n\r\nhello\r\n")
    assert open_bytes(app.settings, late).startswith(b"Subject: stored during the rotation")
    assert public_key(app.settings) != old_public  # the new key is in use
