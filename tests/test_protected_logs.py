"""Logs, quarantine reasons and audit records never hold an anonymous reporter (issue 10, item 4).

Error texts carry what they were fed: a handler quoting the header it chokes on, a database
error listing its statement's values, aiosmtpd's verbose log of every SMTP command. Each is
recorded through one redaction (`outbound.redact.errors`), and `stopit serve --verbose` hashes
the envelope addresses it logs.
"""

from __future__ import annotations

import json
import logging
import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from stopit_mail.app import App
from stopit_mail.models import Event, RawMessage
from stopit_mail.processing.handlers.triage import Triage
from stopit_mail.processing.runner import process_waiting

from factories import cli
from smtp_helpers import free_port, make_config, running_server, start_server_process, stop_process, wait_for_port

ZOE = "zoë.ward@exämple.org"
NAME = "Zoë Ward"


def _anonymous_report(marker: str = "he keeps writing to me") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{NAME} <{ZOE}>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "Anonymous report"
    msg.set_content(f"Please keep me anonymous, {marker}.\n\n{NAME}\n")
    return msg.as_bytes(policy=msg.policy.clone(utf8=True))


def _traces(found: str) -> list[str]:
    lowered = found.lower()
    return [t for t in ("zoë", "zoe.ward", "xn--exmple-cua", "exämple", "zoe ward", "zo\\xc3\\xab")
            if t in lowered]


def test_serve_verbose_logs_the_smtp_conversation_without_addresses(tmp_path: Path) -> None:
    port = free_port()
    config = make_config(tmp_path, server={"listen": f'"127.0.0.1:{port}"'})
    log = tmp_path / "serve.log"
    server = start_server_process(config, log, "--verbose", "--no-worker")
    try:
        wait_for_port(port, proc=server)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo()
            client.mail(ZOE, ["SMTPUTF8"])
            assert client.rcpt("zoe.ward@example.edu")[0] == 550  # refused, and our reply quotes it
            assert client.rcpt("stopit@example.edu")[0] == 250
            assert client.data(_anonymous_report("the words of the message"))[0] == 250
    finally:
        assert stop_process(server) == 0
    logged = log.read_text(encoding="utf-8", errors="replace")
    assert "from:<[address " in logged.lower() and "recip: [address " in logged  # the conversation is there...
    assert _traces(logged) == [], logged[-3000:]  # ...without whom it is for
    assert "the words of the message" not in logged and "stopit@example.edu" not in logged


def test_a_failing_handler_quarantines_without_naming_the_reporter(app: App, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A handler that fails quoting the header it read (as parsers do): the reason, the audit
    event, the log line and the staff views keep the cause but not the reporter."""
    def quoting_failure(self: Triage, ctx: object) -> None:
        raise ValueError(f"cannot classify the message from {ctx.message['From']}")  # type: ignore[attr-defined]

    monkeypatch.setattr(Triage, "prepare", quoting_failure)
    caplog.set_level(logging.DEBUG)
    with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail(ZOE, ["stopit@example.edu"], _anonymous_report(), mail_options=["SMTPUTF8"])
    outcomes = process_waiting(app.factory, app.settings)
    assert [o.status for o in outcomes] == ["quarantined"]
    config = app.settings.base_dir / "stopit.toml"
    with app.factory() as session:
        reason = session.scalars(select(RawMessage.reason)).one() or ""
        audit = [json.dumps(e.detail, ensure_ascii=False) for e in session.scalars(select(Event))]
    assert reason.startswith("triage: ValueError: cannot classify the message from")  # the cause stays
    for recorded in [reason, outcomes[0].reason or "", caplog.text, *audit,
                     cli(config, "quarantine", "list", "--json"), cli(config, "quarantine", "show", "1")]:
        assert _traces(recorded) == [], recorded


def test_database_errors_never_list_the_values_of_their_statement(app: App) -> None:
    """SQLAlchemy puts a statement's parameters in its error text, which is logged, quarantined
    and shown: the engine is made to leave them out."""
    with app.engine.connect() as connection, pytest.raises(SQLAlchemyError) as failure:
        connection.execute(text("INSERT INTO no_such_table (address) VALUES (:address)"), {"address": ZOE})
    assert "no_such_table" in str(failure.value) and ZOE not in str(failure.value)
