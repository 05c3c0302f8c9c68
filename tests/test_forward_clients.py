"""Inline forwards of every common client, in the UI languages reporters use.

The fixtures in tests/fixtures/forwards/clients/ were written for this project from the layouts
the clients print (see SOURCES.md there): the shared corpus has real forwards of many clients but
few of their localised labels. Each forwards the same message, so one expectation checks them all:
the offending sender, date, subject, recipient and body must come out of every one.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.extract.forwards import find_inline_forwards

CLIENTS = Path(__file__).parent / "fixtures" / "forwards" / "clients"
CLIENTS_HTML = Path(__file__).parent / "fixtures" / "forwards" / "clients_html"
# The forwarding subject each UI language's clients write ("WG:", "TR:", "RV:"...).
SUBJECTS = {"de": "WG: te espero", "fr": "TR: te espero", "es": "RV: te espero", "it": "I: te espero",
            "pt": "ENC: te espero", "nl": "FW: te espero", "zh": "转发: te espero", "ja": "FW: te espero",
            "pl": "PD: te espero", "ko": "FW: te espero", "ca": "RV: te espero"}


@pytest.mark.parametrize("name", sorted(p.stem for p in CLIENTS.glob("*.txt")))
def test_every_client_layout_yields_the_offending_message(name: str) -> None:
    text = (CLIENTS / f"{name}.txt").read_text(encoding="utf-8")
    language = name.rsplit("_", 1)[1].rstrip("0123456789")
    found = find_inline_forwards(text, SUBJECTS.get(language, "Fwd: te espero"))
    assert len(found) == 1, found
    forward = found[0]
    assert forward.from_ is not None and forward.from_.address == "max.muster@example.net"
    assert forward.from_.name == "Max Muster"
    assert forward.subject == "te espero"
    assert forward.date is not None and "10:32" in forward.date
    assert [to.address for to in forward.to] == ["kim.lee@example.edu"]
    assert forward.body.strip().startswith("Ich weiß, wo du wohnst.")
    assert not forward.nested


@pytest.mark.parametrize("name", sorted(p.stem for p in CLIENTS_HTML.glob("*.html")))
def test_html_only_forwards_yield_the_offending_message(name: str) -> None:
    # Yahoo writes each header line as a <div>, Thunderbird as a table row: the text must keep
    # them on consecutive lines, as a reader sees them, or the header block ends at "From:".
    message = EmailMessage(policy=SMTP)
    message["From"], message["To"], message["Subject"] = "kim.lee@example.edu", "stopit@example.edu", "Fwd: te espero"
    message.set_content((CLIENTS_HTML / f"{name}.html").read_text(encoding="utf-8"), subtype="html")
    found = [item for item in extract_evidence(message.as_bytes()).items if item.kind == "inline-forward"]
    assert len(found) == 1, found
    forward = found[0]
    assert (forward.from_name, forward.from_address) == ("Max Muster", "max.muster@example.net")
    assert forward.subject == "te espero"
    assert forward.date is not None and "10:32" in forward.date
    assert forward.to == [["Kim Lee", "kim.lee@example.edu"]]
    assert (forward.body_text or "").strip().startswith("Ich weiß, wo du wohnst.")


def test_raw_header_fields_below_a_separator_are_read_by_name_never_guessed() -> None:
    # A bounce (or a client) printing the original's own fields: "MIME-Version: 1.0" was taken
    # for the subject by the guess for labels of unknown languages.
    text = ("Delivery failed.\n\n----- Original message -----\n\nMIME-Version: 1.0\n"
            "Date: Mon, 16 Nov 2026 10:32:11 +0100\nSubject: te espero\nFrom: max.muster@example.net\n"
            "To: kim.lee@example.edu\nContent-Type: text/plain; charset=UTF-8\n\nIch weiß, wo du wohnst.\n")
    forward = find_inline_forwards(text, "Delivery Status Notification (Failure)")[0]
    assert (forward.subject, forward.date) == ("te espero", "Mon, 16 Nov 2026 10:32:11 +0100")
    assert forward.body.strip() == "Ich weiß, wo du wohnst."


def test_mime_source_text_is_no_forward() -> None:
    # A broken message shown as its MIME source: a part's Content-ID is no sender.
    text = ("------- =_aaaaaaaaaa2\nContent-Type: application/octet-stream\n"
            "Content-ID: <20592.1022586929.4@example.com>\nContent-Description: patch2\n"
            "Content-Transfer-Encoding: base64\n\nXXX\n")
    assert find_inline_forwards(text, None) == []


def test_pine_resent_fields_stay_in_the_header_block() -> None:
    text = ("Look.\n\n---------- Forwarded message ----------\nDate: Mon, 16 Nov 2026 10:32:11 +0100\n"
            "From: max.muster@example.net\nTo: kim.lee@example.edu\nSubject: te espero\n"
            "Resent-Date: Mon, 16 Nov 2026 10:40:00 +0100\nResent-From: list@example.org\n\nIch weiß, wo du wohnst.\n")
    forward = find_inline_forwards(text, "te espero (fwd)")[0]
    assert forward.body.strip() == "Ich weiß, wo du wohnst."


@pytest.mark.parametrize(("line", "date", "name"), [
    # Yahoo Mail for iOS under "Begin forwarded message:", Gmail's replies in English and German.
    ("On Monday, November 16, 2026, 10:32, Max Muster <max.muster@example.net> wrote:",
     "Monday, November 16, 2026, 10:32", "Max Muster"),
    ("On Mon, Nov 16, 2026 at 10:32 AM Max Muster <max.muster@example.net> wrote:",
     "Mon, Nov 16, 2026 at 10:32 AM", "Max Muster"),
    ("Am Mo., 16. Nov. 2026 um 10:32 Uhr schrieb Max Muster <max.muster@example.net>:",
     "Mo., 16. Nov. 2026 um 10:32", "Max Muster"),
    ("Le lun. 16 nov. 2026 à 10:32, Max Muster <max.muster@example.net> a écrit :",
     "lun. 16 nov. 2026 à 10:32", "Max Muster"),
    ("2026年11月16日(月) 10:32 Max Muster <max.muster@example.net>:", "2026年11月16日(月) 10:32", "Max Muster"),
])
def test_attribution_dates_keep_the_month_written_before_the_day(line: str, date: str, name: str) -> None:
    # The date ran from the first digit: "November 16" came out as "16", the month lost.
    from stopit_mail.extract.forward_headers import parse_attribution

    found = parse_attribution(line)
    assert found is not None and (found.date, found.name, found.address) == (date, name, "max.muster@example.net")


def test_proton_mails_older_forward_with_local_and_utc_times() -> None:
    text = ("See\n\n-------- Original Message --------\nSubject: te espero\nLocal Time: November 16, 2026 10:32 AM\n"
            "UTC Time: November 16, 2026 9:32 AM\nFrom: max.muster@example.net\nTo: Kim Lee <kim.lee@example.edu>\n\n"
            "Ich weiß, wo du wohnst.\n")
    forward = find_inline_forwards(text, "Fwd: te espero")[0]
    assert forward.from_ is not None and forward.from_.address == "max.muster@example.net"
    assert (forward.date, forward.subject) == ("November 16, 2026 10:32 AM", "te espero")
    assert forward.body.strip() == "Ich weiß, wo du wohnst."


@pytest.mark.parametrize("block", [
    "---------- Forwarded message ---------\nFrom: Max Muster <max.muster@example.net>\n"
    "Date: Mon, Nov 16, 2026 at 10:32 AM\nSubject: \nTo: <kim.lee@example.edu>\n",
    "-----Original Message-----\nFrom: Max Muster <max.muster@example.net>\n"
    "Sent: Monday, November 16, 2026 10:32 AM\nTo: kim.lee@example.edu\nSubject:\n",
    "Begin forwarded message:\n\nFrom: Max Muster <max.muster@example.net>\nSubject: \n"
    "Date: 16 November 2026 at 10:32:11 CET\nTo: kim.lee@example.edu\n",
    "-------- Weitergeleitete Nachricht --------\nBetreff: \t\nDatum: \tMon, 16 Nov 2026 10:32:11 +0100\n"
    "Von: \tMax Muster <max.muster@example.net>\nAn: \tkim.lee@example.edu\n",
])
def test_an_empty_subject_line_is_the_originals_not_the_reporters(block: str) -> None:
    # The reporter wrote their own subject on the forward; the original had none. Before, the
    # reporter's words stood in as the offending message's subject (22 of 479 corpus messages
    # forwarded so under "Fwd: please help").
    found = find_inline_forwards(block + "\nIch weiß, wo du wohnst.\n", "Fwd: please help, he writes every night")
    assert len(found) == 1
    assert found[0].subject == ""
    assert found[0].from_ is not None and found[0].from_.address == "max.muster@example.net"


def test_a_block_without_a_subject_line_still_borrows_the_forwarding_subject() -> None:
    found = find_inline_forwards("---------- Forwarded message ---------\nFrom: Max Muster <max.muster@example.net>\n"
                                 "Date: Mon, Nov 16, 2026 at 10:32 AM\nTo: <kim.lee@example.edu>\n\nHallo\n",
                                 "Fwd: te espero")
    assert found[0].subject == "te espero"


# Outlook desktop's labels and forward prefixes in languages the fixtures above lack (written
# from the clients' layouts): Hungarian's "TOV:" and Arabic's two-word "إعادة توجيه:" did not
# say forward, so a bare header block was not believed; Persian's labels were unknown.
@pytest.mark.parametrize(("labels", "subject"), [
    (("Feladó", "Elküldve", "Címzett", "Tárgy"), "TOV: te espero"),
    (("من", "تم الإرسال", "إلى", "الموضوع"), "إعادة توجيه: te espero"),
    (("از", "ارسال شده", "به", "موضوع"), "FW: te espero"),
])
def test_outlook_blocks_in_more_languages(labels: tuple[str, str, str, str], subject: str) -> None:
    sender, sent, to, subject_label = labels
    text = (f"Mira esto\n\n{sender}: Max Muster <max.muster@example.net>\n{sent}: 16. november 2026 10:32\n"
            f"{to}: Kim Lee <kim.lee@example.edu>\n{subject_label}: te espero\n\nIch weiß, wo du wohnst.\n")
    found = find_inline_forwards(text, subject)
    assert len(found) == 1
    forward = found[0]
    assert forward.from_ is not None and forward.from_.address == "max.muster@example.net"
    assert (forward.subject, [a.address for a in forward.to]) == ("te espero", ["kim.lee@example.edu"])
    assert forward.date is not None and "10:32" in forward.date
    assert forward.body.startswith("Ich weiß")


@pytest.mark.parametrize("title", [
    "Yönlendirilen ileti", "Thư đã chuyển tiếp", "Mesej dimajukan", "Пересланий лист", "अग्रेषित संदेश",
    "ข้อความที่ส่งต่อ", "پیام بازارسال‌شده",
])
def test_gmail_separators_in_more_languages_are_proof_whatever_the_subject(title: str) -> None:
    # Under a reply subject only a separator that says "forwarded" is believed.
    text = (f"---------- {title} ---------\nFrom: Max Muster <max.muster@example.net>\n"
            "Date: Mon, 16 Nov 2026 10:32\nSubject: te espero\nTo: <kim.lee@example.edu>\n\nHallo\n")
    found = find_inline_forwards(text, "Re: help")
    assert len(found) == 1 and found[0].from_ is not None
    assert found[0].from_.address == "max.muster@example.net"
