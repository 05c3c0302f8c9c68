"""Anonymous two-way messaging end to end on the real server, with a real remote mail server.

The reporter's mail server is an aiosmtpd capture on 127.0.0.1 used as our outbound relay. The
reporter writes anonymously, gets an acknowledgement from the case alias, staff reply with
`stopit reply`, the reporter answers the alias; everything lands in the case timeline and no
staff view shows the reporter's address.
"""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from pathlib import Path

from click.testing import CliRunner

from stopit_mail.cli import main

from conftest import make_installation
from smtp_helpers import CaptureHandler, capture_server, running_server, wait_until

REPORTER = "robin.ash@students.example.org"


def _send(port: int, message: EmailMessage, rcpt: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(REPORTER, [rcpt], message.as_bytes())


def test_anonymous_conversation_through_the_alias(tmp_path: Path) -> None:
    app = make_installation(tmp_path)
    config = str(tmp_path / "stopit.toml")
    handler = CaptureHandler()
    with capture_server(handler) as relay_port:
        app.settings.outbound.relay = f"127.0.0.1:{relay_port}"
        app.settings.outbound.starttls = False
        with running_server(app, run_worker=True, worker_idle_seconds=0.2) as server:
            report = EmailMessage()
            report["From"] = f"Robin Ash <{REPORTER}>"
            report["To"] = "stopit@example.edu"
            report["Subject"] = "Anonymous: someone keeps messaging me"
            report["Message-ID"] = "<anon-report-1@students.example.org>"
            report.set_content("Please keep my name out of it. He writes every night.\n\n"
                               "---------- Forwarded message ---------\nFrom: Blake <blake@webmail.example>\n"
                               "Date: Mon, Nov 16, 2026 at 11:02 PM\nSubject: hey\nTo: <" + REPORTER + ">\n\n"
                               "answer me or else\n")
            _send(server.port, report, "stopit@example.edu")
            assert wait_until(lambda: len(handler.messages) == 1, 20), "no acknowledgement delivered"
            envelope_from, recipients, ack_bytes = handler.messages[0]
            ack = handler.parsed()[0]
            assert recipients == [REPORTER] and envelope_from == "<>"  # RFC 3834: null sender
            alias = ack["Reply-To"]
            assert alias.startswith("stopit+") and alias.endswith("@example.edu")
            assert ack["Auto-Submitted"] == "auto-replied" and REPORTER not in ack["To"]

            cases = json.loads(CliRunner().invoke(main, ["-c", config, "cases", "list", "--json"]).output)
            number = cases[0]["number"]
            staff = CliRunner().invoke(main, ["-c", config, "--as", "Pat Morgan", "reply", number,
                                              "-m", "Thank you for telling us. Has it happened at school too?"])
            assert staff.exit_code == 0, staff.output
            assert server.worker is not None
            server.worker.wake()  # the CLI ran in another "process"; do not wait for the idle tick
            assert wait_until(lambda: len(handler.messages) == 2, 20), "staff reply not delivered"
            _from, staff_rcpt, staff_bytes = handler.messages[1]
            staff_msg = handler.parsed()[1]
            assert staff_rcpt == [REPORTER] and alias in staff_msg["From"]
            assert b"Pat Morgan" not in staff_bytes and b"Has it happened at school too?" in staff_bytes

            answer = EmailMessage()
            answer["From"] = f"Robin Ash <{REPORTER}>"
            answer["To"] = alias
            answer["Subject"] = "Re: " + staff_msg["Subject"]
            answer["In-Reply-To"] = staff_msg["Message-ID"]
            answer.set_content("Yes, in the cafeteria on Tuesday.")
            _send(server.port, answer, alias)

            def replied() -> bool:
                shown = CliRunner().invoke(main, ["-c", config, "cases", "show", number, "--json"]).output
                return any(e["action"] == "reply-received" for e in json.loads(shown)["timeline"])

            assert wait_until(replied, 20), "reporter's answer did not reach the case"
    detail_text = CliRunner().invoke(main, ["-c", config, "cases", "show", number, "--json"]).output
    detail = json.loads(detail_text)
    actions = [e["action"] for e in detail["timeline"]]
    assert {"report-filed", "acknowledgement-sent", "staff-reply-queued", "staff-reply-sent", "reply-received"} <= set(actions)
    reply = next(e for e in detail["timeline"] if e["action"] == "reply-received")
    assert reply["detail"]["sender"] == "(anonymous reporter)" and "cafeteria" in reply["detail"]["text"]
    table = CliRunner().invoke(main, ["-c", config, "cases", "show", number], env={"COLUMNS": "250"}).output
    audit = CliRunner().invoke(main, ["-c", config, "audit", number, "--json"]).output
    for staff_view in (detail_text, table, audit):
        assert REPORTER not in staff_view and "Robin" not in staff_view
    app.close()
