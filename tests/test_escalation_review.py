"""The reviewer tier and acknowledgements that cannot be faked, on a controllable clock."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from test_escalation import (
    AFTER_HOURS,
    BUSINESS,
    MAILBOX,
    T0,
    actions,
    cli,
    contacts,
    ingest,
    make_home,
    page_message,
    routine_case,
    tick,
)

from stopit_mail.app import App, open_app
from stopit_mail.cases.escalation import start_escalation
from stopit_mail.cases.escalation_review import decision_in_reply, dismissals, escalate_for_urgency, start_review
from stopit_mail.cli import main
from stopit_mail.db import transaction
from stopit_mail.models import Case, Escalation, Event, Review

REVIEWERS = '''
[[organisations.escalation.reviewers]]
contact = "reviewer"
addresses = ["reviewer@example.edu", "5559990000@sms.example.net"]
'''


def with_reviewers(folder: Path, confirm_minutes: int = 5, database_url: str = "") -> Path:
    config = make_home(folder, BUSINESS, AFTER_HOURS, database_url=database_url)
    text = config.read_text().replace("confirm_minutes = 5", f"confirm_minutes = {confirm_minutes}")
    config.write_text(text.replace("\n[limits]", REVIEWERS + "\n[limits]", 1))
    return config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return with_reviewers(tmp_path)


@pytest.fixture
def app(config: Path) -> Iterator[App]:
    app = open_app(config)
    yield app
    app.close()


def possible(app: App) -> tuple[int, str]:
    """A possible emergency under review at T0; returns (case id, case number)."""
    case_id = routine_case(app)
    with transaction(app.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.urgency = "possible-emergency"
        assert start_review(session, app.settings, case, T0) is not None
        return case_id, case.number


def escalations(app: App) -> list[tuple[str, str]]:
    with app.factory() as session:
        return [(e.kind, e.status.value) for e in session.scalars(select(Escalation).order_by(Escalation.id))]


def reviews(app: App) -> list[tuple[str, str, str, str]]:
    with app.factory() as session:
        return [(r.decision, r.decided_by, r.reason, r.via) for r in session.scalars(select(Review).order_by(Review.id))]


def urgency(app: App, case_id: int) -> str:
    with app.factory() as session:
        return session.get(Case, case_id).urgency  # type: ignore[union-attr]



def reply(app: App, sender: str, body: str, subject: str | None = None, headers: dict[str, str] | None = None,
          number: int = 0) -> None:
    page = page_message(app, number)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = page["Reply-To"]
    msg["Subject"] = subject or "Re: " + page["Subject"]
    msg["Message-ID"] = email.utils.make_msgid(domain="example.edu")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    ingest(app, msg.as_bytes(), mail_from=sender, rcpt_to=[page["Reply-To"]])


def test_possible_emergency_pages_the_reviewer_first_and_says_how_to_decide(config: Path, app: App) -> None:
    possible(app)
    (row,) = json.loads(cli(config, "escalations", "--json"))
    assert (row["kind"], row["chain"], row["contact"]) == ("review", "review", "reviewer")
    assert contacts(app) == ["reviewer"]
    page = page_message(app)
    assert page["Subject"].startswith("[POSSIBLE EMERGENCY ") and "within 5 min" in page["Subject"]
    body = page.get_content()
    assert "stopit confirm" in body and "stopit dismiss" in body and '"confirm"' in body
    assert escalations(app) == [("review", "active")]


def test_no_answer_in_the_window_pages_the_chain_anyway(tmp_path: Path, any_db_url: str) -> None:
    config = with_reviewers(tmp_path, database_url=any_db_url)
    with closing(open_app(config)) as app:
        window_passes(app)


def window_passes(app: App) -> None:
    case_id, _ = possible(app)
    assert tick(app, T0 + timedelta(minutes=4, seconds=59)) == 0
    assert contacts(app) == ["reviewer"]
    assert tick(app, T0 + timedelta(minutes=5)) == 1
    assert contacts(app) == ["reviewer", "primary"]
    assert escalations(app) == [("review", "closed"), ("emergency", "active")]
    assert reviews(app)[0][0] == "expired" and "review-expired" in actions(app)
    # The chain then walks on its own schedule from when it started.
    assert tick(app, T0 + timedelta(minutes=10)) == 1 and contacts(app)[-1] == "secondary"
    assert urgency(app, case_id) == "possible-emergency"


def test_confirm_command_pages_the_chain_now_and_records_who_and_why(config: Path, app: App) -> None:
    case_id, number = possible(app)
    # `ack` cannot silence a review without a decision.
    refused = CliRunner().invoke(main, ["-c", str(config), "--as", "Pat Morgan", "ack", number])
    assert refused.exit_code == 1 and "stopit confirm" in refused.output
    out = cli(config, "--as", "Pat Morgan", "confirm", number, "--reason", "names a date and the gym")
    assert "confirmed by Pat Morgan" in out
    assert urgency(app, case_id) == "emergency"
    # The command runs on the real clock: business or after-hours chain, depending on the hour.
    assert contacts(app)[0] == "reviewer" and contacts(app)[1] in ("primary", "night-primary")
    assert escalations(app) == [("review", "acknowledged"), ("emergency", "active")]
    assert reviews(app) == [("confirmed", "Pat Morgan", "names a date and the gym", "command")]
    # The window passing later changes nothing: the review is decided.
    tick(app, T0 + timedelta(minutes=5))
    assert escalations(app) == [("review", "acknowledged"), ("emergency", "active")]


def test_dismiss_command_stops_paging_and_keeps_a_negative_example(config: Path, app: App) -> None:
    case_id, number = possible(app)
    missing = CliRunner().invoke(main, ["-c", str(config), "--as", "Pat", "dismiss", number])
    assert missing.exit_code != 0 and "--reason" in missing.output
    cli(config, "--as", "Pat", "dismiss", number, "--reason", "song lyrics quoted for an English class")
    assert urgency(app, case_id) == "urgent"
    assert escalations(app) == [("review", "acknowledged")]
    assert tick(app, T0 + timedelta(hours=1)) == 0 and contacts(app) == ["reviewer"]
    assert reviews(app) == [("dismissed", "Pat", "song lyrics quoted for an English class", "command")]
    with app.factory() as session:
        event = session.scalars(select(Event).where(Event.action == "review-dismissed")).one()
    assert event.detail["negative_example_candidate"] is True and event.actor == "Pat"
    with app.factory() as session:
        (dismissal,) = dismissals(session, case_id)
    assert (dismissal.decided_by, dismissal.reason) == ("Pat", "song lyrics quoted for an English class")
    # Nothing left to decide.
    again = CliRunner().invoke(main, ["-c", str(config), "--as", "Pat", "confirm", number, "--reason", "x"])
    assert again.exit_code == 1 and "not a possible emergency under review" in again.output


def test_a_reviewer_can_dismiss_a_chain_the_window_started(config: Path, app: App) -> None:
    _case_id, number = possible(app)
    tick(app, T0 + timedelta(minutes=5))
    cli(config, "--as", "Pat", "dismiss", number, "--reason", "a game chat, checked with the student")
    assert escalations(app) == [("review", "closed"), ("emergency", "acknowledged")]


@pytest.mark.parametrize(("body", "decision"), [
    ("confirm she is at the bridge now", "confirmed"),
    ("Dismiss: it is a song lyric", "dismissed"),
])
def test_one_reply_from_a_reviewer_decides(app: App, body: str, decision: str) -> None:
    possible(app)
    reply(app, "Reviewer <reviewer@example.edu>", body + "\n\nOn Tue, stopit wrote:\n> POSSIBLE EMERGENCY")
    (row,) = reviews(app)
    assert row[0] == decision and row[1] == "reviewer@example.edu" and row[3] == "reply"
    assert row[2] in ("she is at the bridge now", "it is a song lyric")
    with app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 1


def test_an_unclear_reply_leaves_the_window_running(app: App) -> None:
    possible(app)
    reply(app, "reviewer@example.edu", "not sure yet, looking into it")
    assert reviews(app) == [] and "review-reply-unclear" in actions(app)
    assert tick(app, T0 + timedelta(minutes=5)) == 1 and escalations(app)[-1] == ("emergency", "active")


def test_decision_words_are_explicit() -> None:
    assert decision_in_reply("confirm\n") == ("confirmed", "confirm")
    assert decision_in_reply("> dismiss\nconfirmed, calling") == ("confirmed", "calling")
    for unclear in ("no idea", "not an emergency?", "ok", "", "> confirm"):
        assert decision_in_reply(unclear) is None


def test_without_reviewers_a_possible_emergency_pages_the_chain_at_once(tmp_path: Path) -> None:
    app = open_app(make_home(tmp_path, BUSINESS, AFTER_HOURS))
    try:
        possible(app)
        assert contacts(app) == ["primary"] and "review-skipped" in actions(app)
    finally:
        app.close()


# Acknowledgements that cannot be faked ------------------------------------------------------

def emergency(app: App) -> None:
    case_id = routine_case(app)
    with transaction(app.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.urgency = "emergency"
        start_escalation(session, app.settings, case, T0)


def status(app: App) -> str:
    return escalations(app)[-1][1]


def test_out_of_office_without_automatic_headers_quoting_the_code_does_not_stand_down(app: App) -> None:
    emergency(app)
    page = page_message(app)
    # The robot of the very contact paged: no Auto-Submitted, the page quoted with its code.
    quoted = "\n".join("> " + line for line in page.get_content().splitlines())
    reply(app, "oncall1@example.edu", "I am currently out of the office until Monday.\n\n" + quoted)
    assert status(app) == "active" and "page-auto-reply-ignored" in actions(app)
    reply(app, "oncall1@example.edu", "Back Monday.\n" + quoted, subject="Out of Office: " + page["Subject"])
    assert status(app) == "active"
    reply(app, "oncall1@example.edu", "Thanks", headers={"X-Autoreply": "yes"})
    assert status(app) == "active"
    assert tick(app, T0 + timedelta(minutes=5)) == 1


def test_only_a_contact_of_the_chain_may_acknowledge(app: App) -> None:
    emergency(app)
    reply(app, "Student <curious@student.example.edu>", "ok got it")
    assert status(app) == "active" and "page-answer-refused" in actions(app)
    reply(app, "reviewer@example.edu", "ok got it")  # a reviewer is not a contact of the chain
    assert status(app) == "active"
    # A contact further down the chain counts (it is that chain's contact), as does the SMS gateway.
    reply(app, "5551110001@sms.example.net", "ok")
    assert status(app) == "acknowledged"


def test_a_code_only_in_quoted_text_does_not_acknowledge(app: App) -> None:
    emergency(app)
    with app.factory() as session:
        code = session.scalars(select(Escalation.ack_code)).one()
    msg = EmailMessage()
    msg["From"] = "oncall1@example.edu"
    msg["To"] = MAILBOX
    msg["Subject"] = "fyi"
    msg["Message-ID"] = email.utils.make_msgid(domain="example.edu")
    msg.set_content(f"see below\n\nOn Tue, stopit wrote:\n> Acknowledgement code: {code}\n")
    ingest(app, msg.as_bytes(), mail_from="oncall1@example.edu")
    assert status(app) == "active"


def test_an_emergency_found_later_supersedes_the_review(app: App) -> None:
    case_id, _ = possible(app)
    with transaction(app.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.urgency = "emergency"  # e.g. the reporter's follow-up reads as a confident emergency
        assert escalate_for_urgency(session, app.settings, case, T0 + timedelta(minutes=1)) is not None
    assert escalations(app) == [("review", "closed"), ("emergency", "active")]
    # The closed review's window passing pages nothing more.
    assert tick(app, T0 + timedelta(minutes=5)) == 0
