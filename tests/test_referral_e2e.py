"""A referral without consent, end to end (issue 10, defect 2): a report arrives on the real
listener with the reporter named in every encoding the issue lists, staff refer it with the
command, the worker delivers the referral to a real mail server on 127.0.0.1, and what that
server received, once fully decoded, carries the report's words and the evidence but no trace
of who reported.
"""

from __future__ import annotations

import base64
import re
import smtplib
import unicodedata
from email import policy
from email.header import Header
from email.parser import BytesParser
from pathlib import Path

from sqlalchemy import select

from stopit_mail.app import App, open_app
from stopit_mail.models import Case

from conftest import make_installation
from factories import cli
from smtp_helpers import CaptureHandler, capture_server, running_server, wait_until

PERSONAL = "zoe.angstrom77@personal.example.net"
SCHOOL = "zangstrom@students.example.edu"
OFFICE = """
[[organisations.offices]]
name = "title-ix"
title = "Title IX Office"
addresses = ["titleix@example.edu"]
categories = ["harassment"]
"""


def _report() -> bytes:
    """From the personal address with an encoded name; the evidence went to the school address,
    its To an RFC 2047 name, its body base64 and HTML, quoting the name back."""
    name = Header("Zoë Ångström", "utf-8").encode()
    html = ("<html><body><p>Zo&euml; &Aring;ngstr&ouml;m, everyone knows what you did.</p>"
            "<p>Delete your account or we post the video.</p></body></html>")
    original = (
        f"From: Blake Harlow <blake.harlow@webmail.example>\r\nTo: {name} <{SCHOOL}>\r\n"
        "Subject: you\r\nDate: Mon, 16 Nov 2026 23:02:00 +0000\r\nMessage-ID: <e2e-evidence@webmail.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n--alt\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes("Zoë Ångström, everyone knows what you did.\nDelete your account or we post "
                             "the video.\n".encode()).decode().replace("\n", "\r\n")
        + "\r\n--alt\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n" + html + "\r\n--alt--\r\n")
    wrapper = ("Hello, this is Zoë Ångström (my school address is " + SCHOOL + "). A student has been writing "
               "to me every night since the trip and now threatens to post a video.\r\n\r\n-- \r\nZoë\r\n")
    return (
        f"From: {name} <{PERSONAL}>\r\nTo: stopit@example.edu\r\nSubject: Fwd: you\r\n"
        "Message-ID: <e2e-report@personal.example.net>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        + wrapper.replace("ë", "=C3=AB").replace("Å", "=C3=85").replace("ö", "=C3=B6")
        + "\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\n" + original + "\r\n--outer--\r\n").encode()


def _fold(text: str) -> str:
    """Lower case without accents: a name written without its diacritics is still the name."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def _everything_decoded(content: bytes) -> str:
    """Every header (decoded) and every part's payload (decoded) of a message, nested ones too."""
    message = BytesParser(policy=policy.default).parsebytes(content)
    texts: list[str] = []
    for part in message.walk():
        texts += [f"{k}: {v}" for k, v in part.items()]
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts += [payload.decode("utf-8", "replace"), payload.decode("latin-1")]
        if part.get_filename():
            texts.append(part.get_filename() or "")
    return _fold("\n".join(texts))


def test_a_referral_delivered_without_consent_names_nobody_once_decoded(tmp_path: Path) -> None:
    base = make_installation(tmp_path)
    config = tmp_path / "stopit.toml"
    config.write_text(config.read_text().replace("\n[limits]", OFFICE + "[limits]", 1))
    base.close()
    app: App = open_app(config)
    handler = CaptureHandler()
    try:
        with capture_server(handler) as relay_port:
            app.settings.outbound.relay = f"127.0.0.1:{relay_port}"
            app.settings.outbound.starttls = False
            with running_server(app, run_worker=True, worker_idle_seconds=0.2) as server:
                with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
                    client.sendmail(PERSONAL, ["stopit@example.edu"], _report())
                assert wait_until(lambda: len(handler.messages) == 1, 30), "no acknowledgement delivered"
                with app.factory() as session:
                    number = session.scalars(select(Case.number)).one()
                out = cli(config, "--as", "Pat Morgan", "cases", "refer", number, "title-ix", "--yes")
                assert "identity is withheld" in out
                assert server.worker is not None
                server.worker.wake()
                assert wait_until(lambda: len(handler.messages) == 2, 30), "referral not delivered"
    finally:
        app.close()
    _sender, recipients, referral = handler.messages[1]
    assert recipients == ["titleix@example.edu"]
    decoded = _everything_decoded(referral)
    # What happened reaches the office: the reporter's words and the evidence's text.
    assert "threatens to post a video" in decoded and "delete your account or we post the video" in decoded
    assert "blake.harlow@webmail.example" in decoded  # the alleged sender is who the office needs
    # Who reported does not: name (with or without accents), both addresses, their local parts.
    for needle in ("zoe", "angstrom", "zoe.angstrom77", "zangstrom", "personal.example.net"):
        assert not re.search(rf"(?<![^\W_]){re.escape(needle)}(?![^\W_])", decoded), needle
