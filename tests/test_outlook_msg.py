"""An Outlook .msg attached to a report is evidence with its headers, body and files."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from stopit_mail.app import App
from stopit_mail.extract import evidence, msg_props, outlook_msg
from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.extract.outlook_msg import read_msg
from stopit_mail.models import Completeness

from casework_helpers import ingest, latest_case

MSG = (Path(__file__).parent / "fixtures" / "msg" / "harassment-report.msg").read_bytes()


def report_with_msg(content: bytes = MSG, filename: str = "you will regret this.msg") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Vic Tim <victim@example.edu>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "FW: you will regret this"
    msg.set_content("I dragged the message in from Outlook.")
    msg.add_attachment(content, maintype="application", subtype="vnd.ms-outlook", filename=filename)
    return msg.as_bytes()


def test_an_attached_msg_is_evidence_with_headers_body_and_files() -> None:
    items = extract_evidence(report_with_msg()).items
    message = next(i for i in items if i.kind == "attached-msg")
    assert message.completeness is Completeness.HEADERS
    assert (message.from_address, message.subject, message.message_id) == (
        "offender@granigo.art", "you will regret this", "<off-msg-1@granigo.art>")
    assert "Nobody at your school wants you there. Leave." in (message.body_text or "")
    assert "Received: from mail.granigo.art (80.96.157.210)" in (message.header_block or "")
    assert message.content == MSG and message.filename == "you will regret this.msg"
    inner = next(i for i in items if i.filename == "threat.txt")
    assert inner.completeness is Completeness.FILE and inner.content == b"I know where you live.\r\n"
    assert inner.mime_path == message.mime_path + "/msg.1"


def test_the_msg_is_traced_at_intake_through_microsoft_365(app: App) -> None:
    ingest(app, report_with_msg())
    case = latest_case(app)
    evidence = next(e for e in case.evidence if e.kind == "attached-msg")
    assert evidence.completeness is Completeness.HEADERS and evidence.orig_from_address == "offender@granigo.art"
    origin = evidence.analysis["trace"]["origin"]
    assert origin["ip"] == "80.96.157.210" and origin["receiving_provider"] == "Microsoft 365"
    assert evidence.analysis["verifiable"] is False


def test_a_damaged_msg_is_kept_as_a_file_with_the_reason() -> None:
    broken = MSG[:1024]
    found = read_msg(broken)
    assert found.problems and "unreadable .msg" in found.problems[0]
    items = extract_evidence(report_with_msg(broken)).items
    item = next(i for i in items if i.filename == "you will regret this.msg")
    assert item.completeness is Completeness.FILE and item.content == broken and item.problems


FIXTURES = Path(__file__).parent / "fixtures" / "msg"


def test_read_msg_gives_the_fields_outlook_shows_and_the_files_inside() -> None:
    found = read_msg(MSG)
    assert found.problems == []
    assert (found.sender_name, found.sender_address, found.display_to) == (
        "Some One", "offender@granigo.art", "Vic Tim")
    assert found.header_block.startswith("Received: from AM9PR01MB1234")
    [inner] = found.attachments
    assert (inner.filename, inner.content_type, inner.content) == (
        "threat.txt", "text/plain", b"I know where you live.\r\n")


def test_8_bit_strings_an_html_only_body_and_the_submit_time_are_read() -> None:
    found = read_msg((FIXTURES / "html-only.msg").read_bytes())
    assert (found.subject, found.message_id, found.display_cc) == (
        "Café menace", "<html-only-1@granigo.art>", "Other Person")
    # The Exchange DN in PR_SENDER_EMAIL_ADDRESS is passed over for the SMTP address.
    assert found.sender_address == "offender@granigo.art"
    assert "Tu vas le regretter, André." in found.body and "<p>" not in found.body
    assert found.submitted == datetime(2026, 11, 16, 4, 41, tzinfo=UTC)


@pytest.mark.parametrize("cut", [0, 7, 100, 512, 1535, 1536, 3000, 5000, len(MSG) - 1])
def test_a_truncated_msg_is_a_problem_not_an_exception(cut: int) -> None:
    found = read_msg(MSG[:cut])
    assert found.problems
    items = extract_evidence(report_with_msg(MSG[:cut])).items
    item = next(i for i in items if i.filename == "you will regret this.msg")
    assert item.content == MSG[:cut] and item.problems


def test_random_bytes_named_msg_are_kept_as_a_file_with_the_reason() -> None:
    rng = random.Random(5)
    for noise in (bytes(rng.randrange(256) for _ in range(4096)),
                  b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(rng.randrange(256) for _ in range(8192))):
        found = read_msg(noise)
        assert found.problems and "unreadable .msg" in found.problems[0]
        items = extract_evidence(report_with_msg(noise)).items
        item = next(i for i in items if i.filename == "you will regret this.msg")
        assert item.completeness is Completeness.FILE and item.content == noise and item.problems


def test_damaged_sectors_never_raise() -> None:
    rng = random.Random(7)
    readable = 0
    for _ in range(300):
        damaged = bytearray(MSG)
        for _ in range(rng.randrange(1, 12)):
            damaged[rng.randrange(len(damaged))] = rng.choice([0x00, 0x01, 0x7F, 0xFA, 0xFE, 0xFF, rng.randrange(256)])
        found = read_msg(bytes(damaged))
        readable += not found.problems
    # Most single-byte damage lands in a file's slack or its text; some of it must be caught.
    assert 0 < readable < 300


def test_size_and_entry_limits_become_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outlook_msg, "MAX_MSG_BYTES", len(MSG) - 1)
    assert read_msg(MSG).problems == [f"unreadable .msg: larger than {len(MSG) - 1} bytes"]
    monkeypatch.undo()
    monkeypatch.setattr(outlook_msg, "MAX_ENTRIES", 5)
    assert read_msg(MSG).problems[0] == "unreadable .msg: more than 5 entries"
    monkeypatch.undo()
    # A stream larger than the limit is skipped, the rest of the message is still read.
    monkeypatch.setattr(msg_props, "MAX_STREAM_BYTES", 100)
    found = read_msg(MSG)
    assert found.subject == "you will regret this" and found.header_block == ""
    assert any("over the read limit" in p for p in found.problems)


def test_an_outlook_item_inside_the_msg_is_nested_evidence_with_its_own_files() -> None:
    content = (FIXTURES / "forwarded-item.msg").read_bytes()
    items = extract_evidence(report_with_msg(content)).items
    outer, inner = (i for i in items if i.kind == "attached-msg")
    assert outer.from_address == "friend@example.org" and outer.content == content
    assert (inner.from_address, inner.message_id) == ("offender@granigo.art", "<off-msg-1@granigo.art>")
    assert inner.completeness is Completeness.HEADERS and inner.content is None
    assert inner.mime_path == outer.mime_path + "/msg.1"
    threat = next(i for i in items if i.filename == "threat.txt")
    assert threat.content == b"I know where you live.\r\n" and threat.mime_path == inner.mime_path + "/msg.1"


def test_items_nested_too_deep_stop_at_the_limit_with_a_problem() -> None:
    found = read_msg((FIXTURES / "nested-items.msg").read_bytes())
    depth = 0
    while found.embedded:
        [found] = found.embedded
        depth += 1
    assert depth == outlook_msg.MAX_EMBED_DEPTH and found.subject == f"level {depth}"
    assert found.problems == [f"a message embedded more than {depth} deep was not read"]
    assert found.attachments == []


def test_a_nested_outlook_item_is_stored_and_traced(app: App) -> None:
    ingest(app, report_with_msg((FIXTURES / "forwarded-item.msg").read_bytes()))
    case = latest_case(app)
    nested = [e for e in case.evidence if e.kind == "attached-msg"]
    assert {e.orig_from_address for e in nested} == {"friend@example.org", "offender@granigo.art"}
    offender = next(e for e in nested if e.orig_from_address == "offender@granigo.art")
    assert offender.analysis["trace"]["origin"]["ip"] == "80.96.157.210"


def test_the_tests_use_only_the_committed_fixtures() -> None:
    # build_msg.py needs cfbwrite (AGPL-3.0), a regeneration tool that must never be a test dependency.
    for test_file in Path(__file__).parent.glob("test_*.py"):
        assert "cfbwrite" not in test_file.read_text(encoding="utf-8") or test_file.name == Path(__file__).name


def test_only_so_many_msg_files_per_report_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "MAX_MSG_PER_REPORT", 1)
    msg = EmailMessage()
    msg["From"] = "victim@example.edu"
    msg.set_content("two of them")
    for name in ("one.msg", "two.msg"):
        msg.add_attachment(MSG, maintype="application", subtype="vnd.ms-outlook", filename=name)
    items = extract_evidence(msg.as_bytes()).items
    assert [i.filename for i in items if i.kind == "attached-msg"] == ["one.msg"]
    second = next(i for i in items if i.filename == "two.msg")
    assert second.completeness is Completeness.FILE and second.content == MSG
    assert "more than 1 Outlook .msg files in the report: kept, not read" in second.problems
