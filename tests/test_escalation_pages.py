"""Pages carry what on-call needs (where, when, who) and nothing about the reporter; SMS is short."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import timedelta
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import select
from test_escalation import AFTER_HOURS, BUSINESS, MAILBOX, T0, make_home, report, routine_case, start, tick
from test_escalation_review import possible, with_reviewers

from stopit_mail.app import App, open_app
from stopit_mail.cases.escalation_facts import extract_facts, reporter_tokens
from stopit_mail.ingest.rawstore import Envelope
from stopit_mail.ingest.service import IngestSummary, ingest_one
from stopit_mail.models import Case, Escalation, Event, OutboxMessage, Report
from stopit_mail.sealing import key_path

SECRET_SENDER = "Quentin Zebulon <qz.reporter.4417@student.example.edu>"
SECRETS = ("qz.reporter.4417", "Quentin", "Zebulon", "Casper")
TEXT = "My friend Casper took a lot of pills already and is in the bathroom at the library. Please hurry"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    app = open_app(with_reviewers(tmp_path))
    yield app
    app.close()


def page_rows(app: App, kind: str = "page") -> list[OutboxMessage]:
    with app.factory() as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))
        for row in rows:
            assert row.content  # load the deferred bytes while the session is open
        return rows


def text_of(row: OutboxMessage) -> str:
    msg = email.message_from_bytes(row.content, policy=default_policy)
    return f"{msg['Subject']}\n{msg.get_content()}"  # type: ignore[attr-defined]


def test_facts_come_from_the_report_but_never_name_anyone() -> None:
    banned = reporter_tokens("qz.reporter.4417@student.example.edu", "Quentin Zebulon")
    facts = extract_facts([TEXT + "\n\nQuentin", "> quoted: behind the gym tonight"], banned)
    assert facts.where == ["in the bathroom", "at the library"]
    assert facts.when == ["already"]
    assert facts.who == ["the reporter's friend"]
    # A phrase that carries the reporter's own name is dropped, not trimmed.
    assert extract_facts(["meet at Zebulon house tonight"], banned).where == []
    spanish = extract_facts(["Mi amiga dice que se quiere matar esta noche en el puente"])
    assert spanish.where == ["en el puente"] and spanish.when == ["esta noche"] and spanish.who == ["mi amiga"]
    assert extract_facts(["nothing useful here"]).empty()


def test_emergency_page_says_where_when_who_and_sms_is_short(tmp_path: Path) -> None:
    app = open_app(make_home(tmp_path, BUSINESS, AFTER_HOURS))
    try:
        case_id = routine_case(app)
        with app.factory.begin() as session:
            rep = session.scalars(select(Report).where(Report.case_id == case_id)).one()
            rep.wrapper_text = TEXT + "\n\nThanks, Robin Reporter"
        start(app, case_id)  # T0 is in business hours: the primary has an SMS gateway
        mail, sms = page_rows(app)
        assert mail.recipients == ["oncall1@example.edu"] and sms.recipients == ["5551110001@sms.example.net"]
        body = text_of(mail)
        assert "Where:       in the bathroom; at the library" in body and "When:        already" in body
        assert "Who at risk: the reporter's friend" in body and "Reported:    " in body
        short = text_of(sms)
        msg = email.message_from_bytes(sms.content, policy=default_policy)
        assert len(msg["Subject"]) + 1 + len(msg.get_content().strip()) <= 160  # type: ignore[attr-defined]
        with app.factory() as session:
            number = session.scalars(select(Case.number)).one()
        assert number in short and "Code " in short and "Where: in the bathroom" in short
        for secret in ("Robin", "Reporter", "robin@", "Casper", "pills"):
            assert secret not in body and secret not in short
        # The next step pages too, with the same facts.
        tick(app, T0 + timedelta(minutes=5))
        assert "in the bathroom" in text_of(page_rows(app)[-1])
    finally:
        app.close()


def test_review_and_sms_pages_keep_the_code_whole(app: App) -> None:
    possible(app)
    mail, sms = page_rows(app)
    with app.factory() as session:
        code = session.scalars(select(Escalation.ack_code)).one()
    formatted = "-".join(code[i:i + 4] for i in (0, 4, 8))
    assert formatted in text_of(sms) and "CONFIRM or DISMISS" in text_of(sms)
    assert formatted in text_of(mail)


@pytest.mark.parametrize("damage", ["missing", "corrupt-file", "corrupt-env"])
def test_a_lost_or_corrupt_identity_key_never_stops_a_page(tmp_path: Path, damage: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app(make_home(tmp_path, BUSINESS, AFTER_HOURS))
    try:
        if damage == "missing":
            key_path(app.settings).unlink()
        elif damage == "corrupt-file":
            key_path(app.settings).write_text("not a fernet key")
        else:
            monkeypatch.setenv(app.settings.casework.identity_key_env, "garbage")
        content = report(sender=SECRET_SENDER, subject="anonymous: please help Casper",
                         text="My friend Casper wants to kill himself tonight behind the gym.")
        summary = IngestSummary()
        ingest_one(app, content, Envelope("smtp", "qz.reporter.4417@student.example.edu", [MAILBOX]), summary)
        # Sealed at the 250 like every message, it cannot be opened without the key: it is set
        # aside, and the chain is paged from the page facts the intake recorded beside it.
        assert summary.quarantined == 1, summary
        with app.factory() as session:
            case = session.scalars(select(Case)).one()
            assert case.urgency == "emergency" and case.anonymous
            actions = session.scalars(select(Event.action).where(Event.case_id == case.id)).all()
        assert "escalation-paged" in actions
        rows = page_rows(app)
        assert rows, "the emergency was not paged"
        for row in rows + page_rows(app, "emergency-fallback"):
            text = text_of(row)
            assert "behind the gym" in text and "tonight" in text
            for secret in SECRETS:
                assert secret not in text
    finally:
        app.close()
