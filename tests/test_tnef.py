"""Outlook's winmail.dat (TNEF): the files and the forwarded Outlook items inside it are evidence.

The fixtures were written for this project from [MS-OXTNEF] (tests/fixtures/tnef/SOURCES.md).
"""

from __future__ import annotations

import struct
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from stopit_mail.app import App
from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.headers.analysis import HeaderPolicy, analyse
from stopit_mail.headers.dns import OfflineResolver
from stopit_mail.models import Completeness

from casework_helpers import ingest, latest_case

FIXTURES = Path(__file__).parent / "fixtures" / "tnef"
WINMAIL = (FIXTURES / "winmail.dat").read_bytes()


def report_with(payload: bytes, filename: str = "winmail.dat", subtype: str = "ms-tnef") -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = "kim.lee@example.edu"
    message["To"] = "stopit@example.edu"
    message["Subject"] = "FW: you will regret this"
    message.set_content("Please help.\n")
    message.add_attachment(payload, maintype="application", subtype=subtype, filename=filename)
    return message.as_bytes()


def test_the_offenders_item_and_the_files_inside_winmail_dat_are_evidence() -> None:
    extraction = extract_evidence((FIXTURES / "report-with-winmail.eml").read_bytes())
    winmail, screenshot, item = extraction.items
    assert (winmail.filename, winmail.completeness, winmail.content) == ("winmail.dat", Completeness.FILE, WINMAIL)
    assert "1 file(s) and 1 Outlook item(s)" in winmail.problems[0]
    assert winmail.subject is None and not winmail.body_text  # the reporter's own words stay in the wrapper
    assert (screenshot.filename, screenshot.content_type, screenshot.mime_path) == ("screenshot.png", "image/png", "2/msg.1")
    assert item.kind == "attached-msg" and item.completeness is Completeness.HEADERS
    assert (item.from_name, item.from_address) == ("Sam Offender", "sam@granigo.art")
    assert item.subject == "you will regret this"
    assert item.date == "Mon, 16 Nov 2026 21:14:03 +0000"
    assert item.body_text is not None and item.body_text.startswith("Everyone will see the photos on Friday.")
    assert extraction.wrapper_text == "Please help, see the attached message."


def test_the_item_inside_winmail_dat_is_traced_to_the_client_behind_the_submission_server() -> None:
    item = extract_evidence((FIXTURES / "report-with-winmail.eml").read_bytes()).items[2]
    assert item.header_block is not None
    policy = HeaderPolicy(None, (), timedelta(seconds=300), OfflineResolver())
    analysis = analyse(item.header_block.encode() + b"\r\n", policy, verifiable=False, source="pasted headers",
                       now=datetime(2026, 11, 17, tzinfo=UTC))
    assert len(analysis["trace"]["hops"]) == 3
    assert analysis["trace"]["origin"]["ip"] == "203.0.113.77"


@pytest.mark.parametrize("cut", [7, 40, 200, len(WINMAIL) // 2, len(WINMAIL) - 3])
def test_a_truncated_winmail_dat_is_a_file_never_an_exception(cut: int) -> None:
    items = extract_evidence(report_with(WINMAIL[:cut])).items
    assert items[0].filename == "winmail.dat" and items[0].content == WINMAIL[:cut]
    assert all(item.completeness in (Completeness.FILE, Completeness.HEADERS, Completeness.SUMMARY) for item in items)


def test_bytes_without_the_tnef_signature_stay_a_plain_file() -> None:
    items = extract_evidence(report_with(b"not a tnef stream at all" * 10)).items
    assert len(items) == 1 and items[0].filename == "winmail.dat" and items[0].problems == []


def test_a_stream_of_many_tiny_attributes_is_not_read_and_costs_nothing() -> None:
    # tnefparse copies the rest of the stream for each attribute: 200,000 of them would take minutes.
    rendering = struct.pack("<BHHI", 2, 0x9002, 0x6, 14) + bytes(16)  # an attachment starts
    tiny = struct.pack("<BHHI", 2, 0x800F, 0x6, 1) + b"x" + struct.pack("<H", ord("x"))  # its data, again and again
    hostile = WINMAIL[:6] + rendering + tiny * 200_000
    start = time.process_time()
    items = extract_evidence(report_with(hostile)).items
    assert time.process_time() - start < 2
    assert items[0].filename == "winmail.dat"
    assert any("not read" in problem for problem in items[0].problems)


def test_octet_stream_named_winmail_dat_is_read_too() -> None:
    items = extract_evidence(report_with(WINMAIL, subtype="octet-stream")).items
    assert [item.kind for item in items] == ["attachment", "attachment", "attached-msg"]


def test_the_item_inside_winmail_dat_is_stored_and_traced_at_intake(app: App) -> None:
    ingest(app, (FIXTURES / "report-with-winmail.eml").read_bytes())
    case = latest_case(app)
    item = next(e for e in case.evidence if e.kind == "attached-msg")
    assert item.completeness is Completeness.HEADERS and item.orig_from_address == "sam@granigo.art"
    assert item.analysis["trace"]["origin"]["ip"] == "203.0.113.77" and item.analysis["verifiable"] is False
    assert {e.filename for e in case.evidence if e.kind == "attachment"} == {"winmail.dat", "screenshot.png"}
