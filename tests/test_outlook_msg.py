"""An Outlook .msg attached to a report is evidence with its headers, body and files."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from stopit_mail.app import App
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
