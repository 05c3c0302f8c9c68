"""A reporter's name in a text file of another charset never reaches an office.

Red team (non-negotiable 2). Windows writes "Unicode" text files (Notepad, PowerShell, chat and
log exports) as UTF-16; older tools write Windows-1252 without saying so. Attached to a report,
such a file reached the office in a referral with the reporter's name intact: redaction read
it as UTF-8, where UTF-16's letters are split by NUL bytes and Windows-1252's accented letters
are replacement characters, so the name matched nothing, and any editor showed it. The same
held for a text part of an attached message without a charset. An HTML file (a saved chat or
account export) was scrubbed as plain text and sent on as text/plain: a name written with
character references ("&#197;sa &Ouml;berg") reached the office, whose browser shows it. The
checker here decodes independently: by the byte order mark, as the charset the test wrote, or
with HTML's references unescaped.
"""

from __future__ import annotations

import html
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from test_notices import _with_office

from stopit_mail.app import App
from stopit_mail.cases.referrals import prepare_referral
from stopit_mail.outbound.compose import Attachment, Draft, compose
from stopit_mail.outbound.redact import Traces, find_leaks

from casework_helpers import ingest, open_case

ASA = "Åsa Öberg"
CHAT = f"[10:32] {ASA}: stop writing to me\n[10:33] Alex: never, Öberg\n"
FILES = {
    "utf16.txt": (CHAT.encode("utf-16"), "utf-16"),  # with a byte order mark, as Notepad writes it
    "utf16be.txt": (CHAT.encode("utf-16-be"), "utf-16-be"),  # without one
    "cp1252.txt": (CHAT.encode("cp1252"), "cp1252"),
}


def _original_without_charset() -> bytes:
    # A text part that names no charset, in Windows-1252 (an old client's).
    return (b"From: Alex <offender@example.net>\r\nTo: asa.oberg@example.se\r\nSubject: hey\r\n"
            b"Date: Mon, 16 Nov 2026 04:41:03 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "Hej Åsa Öberg, everyone knows.\r\n".encode("cp1252"))


def test_text_files_in_utf16_or_windows_1252_are_redacted_for_the_office(app: App) -> None:
    _with_office(app)
    msg = EmailMessage()
    msg["From"] = f"{ASA} <asa.oberg@example.se>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "Fwd: hey"
    msg.set_content("He keeps writing, the chat is attached.")
    msg.add_attachment(_original_without_charset(), maintype="message", subtype="rfc822")
    for name, (data, _codec) in FILES.items():
        msg.add_attachment(data, maintype="text", subtype="plain", filename=name)
    ingest(app, msg.as_bytes())
    with open_case(app) as (_session, case):
        case.categories = ["sexual-harassment"]
        referral = prepare_referral(app.settings, case, "title-ix")
    attached = {a.filename: a for a in referral.draft.attachments}
    for name in FILES:
        text = attached[name].content.decode("utf-8")
        assert "[10:32] [reporter] [reporter]: stop writing to me" in text and "Alex: never, [reporter]" in text, name
        assert "sa" not in text.replace("Alex", "") and "berg" not in text, name
    (evidence,) = [a for a in referral.draft.attachments if a.filename not in FILES]
    inner = BytesParser(policy=policy.default).parsebytes(evidence.content)
    assert "Hej [reporter] [reporter], everyone knows." in inner.get_content()  # type: ignore[attr-defined]
    assert b"berg" not in evidence.content


def test_the_guard_reads_a_text_attachment_in_its_real_charset() -> None:
    traces = Traces()
    traces.add_name(ASA)
    for name, (data, _codec) in FILES.items():
        draft = Draft(from_address="stopit@example.edu", to=["titleix@example.edu"], subject="Referral",
                      body="See the attached file.\n", attachments=[Attachment(name, "text/plain", data)])
        assert find_leaks(compose(draft, "<x@example.edu>"), traces), name


def test_an_html_file_naming_the_reporter_behind_entities_is_redacted_as_a_browser_shows_it(app: App) -> None:
    # A chat or account export saved as HTML: the browser the office opens it in decodes entities.
    _with_office(app)
    export = ("<html><head><title>Messages with &Aring;sa &#214;berg</title></head><body>"
              "<p>&#197;sa &Ouml;berg: stop writing to me</p><p>Alex: never</p></body></html>")
    msg = EmailMessage()
    msg["From"] = f"{ASA} <asa.oberg@example.se>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "Fwd: hey"
    msg.set_content("He keeps writing, the export is attached.")
    msg.add_attachment(export.encode(), maintype="text", subtype="html", filename="messages.html")
    msg.add_attachment(export.encode(), maintype="text", subtype="plain", filename="messages2.html")
    ingest(app, msg.as_bytes())
    with open_case(app) as (_session, case):
        case.categories = ["sexual-harassment"]
        referral = prepare_referral(app.settings, case, "title-ix")
    for attached in referral.draft.attachments:
        shown = html.unescape(attached.content.decode("utf-8"))
        assert "stop writing to me" in shown and "Alex: never" in shown, attached.filename
        assert "sa" not in shown.replace("Messages", "") and "berg" not in shown, attached.filename
