"""Abuse reports (ARF, RFC 5965; X-ARF) to the origin provider's desk: well-formed, reporter
redacted, logged on the case, and harmless when they come back to our own intake."""

from __future__ import annotations

import email
import email.parser
import email.policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from stopit_mail.app import App
from stopit_mail.cases.abuse import AbuseReportError, PreparedAbuseReport, prepare_abuse_report, send_abuse_report
from stopit_mail.cases.staff import Actor
from stopit_mail.cli import main
from stopit_mail.config import settings_from_dict
from stopit_mail.errors import ConfigError
from stopit_mail.models import Case, Event, MessageKind, OutboxMessage, RawMessage

from casework_helpers import ingest, latest_case, open_case, report

STAFF = Actor("Pat Morgan", restricted=False)
REPORTER = "jordan.lee@example.edu"
DATE = "Mon, 16 Nov 2026 04:41:03 +0000"
# Sent from a Gmail account, received by Microsoft 365 (the reporter's mailbox).
ORIGINAL = (
    f"Received: from AM9PR01MB1234.eurprd01.prod.outlook.com (2603:10a6:20b:1::5) by\r\n"
    f" AM0PR01MB5678.eurprd01.prod.outlook.com with HTTPS; {DATE}\r\n"
    f"Received: from AM2PEPF0001.eurprd01.prod.outlook.com (2603:10a6:20b:2::1) by\r\n"
    f" AM9PR01MB1234.eurprd01.prod.outlook.com (2603:10a6:20b:1::5) with Microsoft SMTP Server; {DATE}\r\n"
    f"Received: from mail-ej1-f45.google.com (209.85.218.45) by\r\n"
    f" AM2PEPF0001.mail.protection.outlook.com (10.167.16.1) with Microsoft SMTP Server id\r\n"
    f" 15.20.1 via Frontend Transport; {DATE}\r\n"
    f"Received: by mail-ej1-f45.google.com with SMTP id a1so1 for <{REPORTER}>; {DATE}\r\n"
    f"From: Some One <harasser.account@gmail.com>\r\nTo: Jordan Lee <{REPORTER}>\r\n"
    f"Subject: hey\r\nDate: {DATE}\r\nMessage-ID: <off-1@mail.gmail.com>\r\n\r\nNobody likes you.\r\n").encode()


def _prepared(app: App, original: bytes = ORIGINAL, recipient: str | None = None, fmt: str = "arf") -> PreparedAbuseReport:
    """Ingest a report of ``original`` and prepare the abuse report for its case."""
    ingest(app, report(reporter=REPORTER, name="Jordan Lee", original=original))
    with open_case(app) as (_session, case):
        return prepare_abuse_report(app.settings, case, recipient, fmt)


def _feedback_fields(part: email.message.Message) -> list[tuple[str, str]]:
    payload = part.get_payload()
    text = payload if isinstance(payload, str) else payload[0].as_string()
    return list(email.parser.HeaderParser().parsestr(text).items())


def test_an_arf_report_follows_rfc_5965_and_goes_to_the_sending_providers_desk(app: App) -> None:
    prepared = _prepared(app)
    assert prepared.recipient == "network-abuse@google.com"
    raw = prepared.preview().encode()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "feedback-report"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/feedback-report", "text/rfc822-headers"]
    fields = _feedback_fields(parts[1])
    names = [name.lower() for name, _value in fields]
    # RFC 5965 section 3.1: these three exactly once; the optional single fields at most once.
    for required in ("feedback-type", "user-agent", "version"):
        assert names.count(required) == 1
    for single in ("arrival-date", "source-ip", "original-mail-from", "reported-domain"):
        assert names.count(single) <= 1
    values = {name.lower(): value for name, value in fields}
    assert values["feedback-type"] == "abuse" and values["version"] == "1"
    assert values["source-ip"] == "209.85.218.45"
    assert values["original-mail-from"] == "<harasser.account@gmail.com>"
    headers = parts[2].get_content()
    assert "Received: from mail-ej1-f45.google.com (209.85.218.45)" in headers
    # The reporter is the recipient of the original: redacted everywhere, in any case.
    assert REPORTER not in raw.decode().lower() and "jordan lee" not in raw.decode().lower()
    assert "To: [redacted] <[redacted]>" in headers
    assert "Google Workspace / Gmail" in parts[0].get_content()
    # Replies come back to the case's sender alias.
    assert message["Reply-To"] == message["From"].addresses[0].addr_spec and "+" in message["Reply-To"]


def test_x_arf_carries_a_harassment_report_part(app: App) -> None:
    prepared = _prepared(app, fmt="xarf")
    message = email.message_from_bytes(prepared.preview().encode(), policy=email.policy.default)
    assert message["X-XARF"] == "PLAIN" and message.get_content_type() == "multipart/mixed"
    report_part = list(message.iter_parts())[1]
    assert report_part.get_param("name") == "report.txt"
    yaml = report_part.get_content()
    assert "Report-Type: harassment" in yaml and "Source: 209.85.218.45" in yaml and "Version: 0.2" in yaml


def test_sending_logs_it_on_the_case_and_our_intake_takes_it_back_as_a_report_not_a_case(app: App) -> None:
    ingest(app, report(reporter=REPORTER, name="Jordan Lee", original=ORIGINAL))
    with open_case(app) as (session, case):
        row = send_abuse_report(session, app.settings, STAFF, case)
        content, case_id = row.content, case.id
    with app.factory() as session:
        events = session.scalars(select(Event).where(Event.case_id == case_id, Event.action == "abuse-report-queued")).all()
        assert len(events) == 1 and events[0].actor == STAFF.name
        before = session.scalar(select(func.count(Case.id)))
    summary = ingest(app, content)
    with app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == before
        kinds = session.scalars(select(RawMessage.kind).order_by(RawMessage.id.desc())).first()
    assert summary.processed == 1 and not summary.quarantined and not summary.cases
    assert kinds == MessageKind.BOUNCE


def test_no_desk_known_needs_to(app: App) -> None:
    original = ORIGINAL.replace(b"mail-ej1-f45.google.com (209.85.218.45)", b"mail.granigo.art (80.96.157.210)")
    with pytest.raises(AbuseReportError, match="give --to"):
        _prepared(app, original)
    with open_case(app) as (_session, case):
        assert prepare_abuse_report(app.settings, case, "abuse@granigo.art").recipient == "abuse@granigo.art"


def test_the_command_queues_the_report(app: App) -> None:
    ingest(app, report(reporter=REPORTER, name="Jordan Lee", original=ORIGINAL))
    number = latest_case(app).number
    config = str(app.settings.base_dir / "stopit.toml")
    result = CliRunner().invoke(main, ["-c", config, "--as", STAFF.name, "cases", "report-abuse", number,
                                       "--format", "arf", "--yes"])
    assert result.exit_code == 0, result.output
    assert "queued ARF abuse report" in result.output and "network-abuse@google.com" in result.output
    with app.factory() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "abuse-report")).all()
        assert len(rows) == 1 and rows[0].recipients == ["network-abuse@google.com"]


def test_a_configured_desk_covers_an_origin_the_shipped_data_does_not(app: App) -> None:
    app.settings.headers.abuse_desks = ["80.96.0.0/16=abuse@granigo-isp.example"]
    original = ORIGINAL.replace(b"mail-ej1-f45.google.com (209.85.218.45)", b"mail.granigo.art (80.96.157.210)")
    assert _prepared(app, original).recipient == "abuse@granigo-isp.example"


def test_a_configured_desk_for_a_provider_key_comes_before_the_shipped_one(app: App) -> None:
    app.settings.headers.abuse_desks = ["google=gmail-abuse@example.org"]
    assert _prepared(app).recipient == "gmail-abuse@example.org"


def test_a_malformed_abuse_desk_entry_is_a_configuration_error() -> None:
    table = {"organisations": [{"slug": "main", "name": "Example", "mailboxes": ["stopit@example.edu"]}],
             "headers": {"abuse_desks": ["google", "x=not-an-address"]}}
    with pytest.raises(ConfigError) as info:
        settings_from_dict(table, Path("."))
    assert [p for p in info.value.problems if "abuse_desks" in p] == [
        "headers.abuse_desks[0]: found 'google', expected 'KEY=abuse@example.net'",
        "headers.abuse_desks[1]: found 'x=not-an-address', expected 'KEY=abuse@example.net'"]


def test_a_reporter_reached_by_bcc_is_redacted_from_the_header_section(app: App) -> None:
    """Red team: the harasser Bcc'd the reporter's school mailbox, which only the delivery headers
    name (Delivered-To, X-Original-To, Received "for"); the reporter forwarded it from home. The
    header section sent to the provider named that mailbox."""
    school = "jl77@example.edu"
    original = (ORIGINAL.replace(f"<{REPORTER}>".encode(), f"<{school}>".encode())
                .replace(f"To: Jordan Lee <{school}>".encode(), b"To: undisclosed-recipients:;"))
    original = f"Delivered-To: {school}\r\nX-Original-To: {school}\r\n".encode() + original
    ingest(app, report(reporter="jordan.home@home.example.org", name="Jordan Lee", original=original))
    with open_case(app) as (_session, case):
        prepared = prepare_abuse_report(app.settings, case)
    text = prepared.preview().lower()
    assert "received: from mail-ej1-f45.google.com (209.85.218.45)" in text  # the trace is kept
    assert "jl77" not in text
