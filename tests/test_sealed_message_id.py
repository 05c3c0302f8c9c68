"""An anonymous reporter's Message-IDs and signature block are sealed at rest like the rest of them.

Red team (non-negotiable 2). A Message-ID is written by the reporter's mail client, and many
name them: their own domain, their machine ("@zebulons-macbook.home.example.org"), their
account. The stored row kept it readable beside the sealed bytes, and the acknowledgement,
stored readable in the outbox, quoted it in In-Reply-To and References; a reply from their
side kept its own. Now none of them sits in the database.
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.models import Case, OutboxMessage, RawMessage

from casework_helpers import ingest, offending_message

SECRET = "zeb.quaxley@home.example.org"
TOKEN = "zebulons-macbook"


def _anonymous_report() -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Zebulon Quaxley <{SECRET}>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "Fwd: anonymous please"
    msg["Message-ID"] = f"<20261116.4411.zquaxley@{TOKEN}.home.example.org>"
    msg.set_content("Please keep this anonymous, I am scared.")
    msg.add_attachment(offending_message(to="someone@example.edu"), maintype="message", subtype="rfc822")
    return msg.as_bytes()


def _reply(alias: str, acknowledgement_id: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Zebulon Quaxley <{SECRET}>"
    msg["To"] = alias
    msg["Subject"] = "Re: We received your report"
    msg["Message-ID"] = f"<reply.4412.zquaxley@{TOKEN}.home.example.org>"
    msg["In-Reply-To"] = acknowledgement_id
    msg.set_content("He wrote again this morning.")
    return msg.as_bytes()


def _database_text(app: App) -> bytes:
    """The SQLite file and its write-ahead log, as a backup or a thief would copy them."""
    database = Path(app.settings.effective_database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (database, database.with_name(database.name + "-wal")) if p.exists())


def test_an_anonymous_reporters_message_ids_are_not_stored_readable(app: App) -> None:
    ingest(app, _anonymous_report(), mail_from=SECRET)
    with app.factory() as session:
        assert session.scalars(select(Case.anonymous)).one() is True
        ack = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "acknowledgement")).one()
        ack_id, content = ack.message_id, ack.content
    alias = next(line.split("<")[-1].rstrip(">") for line in content.decode().splitlines() if line.startswith("From:"))
    ingest(app, _reply(alias, ack_id), rcpt=alias, mail_from=SECRET)
    with app.factory() as session:
        assert session.scalars(select(RawMessage.case_id)).all() == [1, 1]  # the reply joined the case
    stored = _database_text(app).lower()
    assert TOKEN.encode() not in stored and b"zquaxley" not in stored
    assert b"quaxley" not in stored and SECRET.encode() not in stored


def test_an_anonymous_reporters_signature_block_is_not_stored_readable(app: App) -> None:
    """Their name was scrubbed from their words at rest; the lines under "-- " beside it (phone,
    class, room) were kept readable."""
    msg = EmailMessage()
    msg["From"] = f"Zebulon Quaxley <{SECRET}>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "Fwd: anonymous please"
    msg.set_content("Please keep this anonymous, I am scared.\n\n-- \nZebulon Quaxley\nHomeroom 11-204B\n"
                    "Mobile +1 555 0188\n")
    msg.add_attachment(offending_message(to="someone@example.edu"), maintype="message", subtype="rfc822")
    ingest(app, msg.as_bytes(), mail_from=SECRET)
    stored = _database_text(app).lower()
    assert b"i am scared" in stored  # their words are readable to staff
    assert b"11-204b" not in stored and b"555 0188" not in stored


def test_an_anonymous_reporters_mailbox_named_only_by_delivery_headers_is_not_stored_readable(app: App) -> None:
    """Mail that reached them by Bcc names their school mailbox only in Delivered-To and a
    Received "for <...>"; the header block and analysis staff read kept it."""
    original = (b"Delivered-To: zq4411@school.example.edu\r\n"
                b"Received: from mx.example.net (mx.example.net [198.51.100.7]) by mx.school.example.edu\r\n"
                b" with ESMTPS id 4F1 for <zq4411@school.example.edu>; Mon, 16 Nov 2026 04:41:05 +0000\r\n"
                b"From: Some One <offender@example.net>\r\nTo: undisclosed-recipients:;\r\nSubject: you\r\n"
                b"Date: Mon, 16 Nov 2026 04:41:03 +0000\r\nMessage-ID: <bcc-9@example.net>\r\n\r\nloser\r\n")
    msg = EmailMessage()
    msg["From"] = f"Zebulon Quaxley <{SECRET}>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "Fwd: anonymous please"
    msg.set_content("Please keep this anonymous.")
    msg.add_attachment(original, maintype="message", subtype="rfc822")
    ingest(app, msg.as_bytes(), mail_from=SECRET)
    stored = _database_text(app).lower()
    assert b"mx.school.example.edu" in stored  # the trace itself is kept for staff
    assert b"zq4411" not in stored
