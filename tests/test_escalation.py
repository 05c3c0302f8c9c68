"""Emergencies are never silent: paging walks the chain on time, and only a person stops it."""

from __future__ import annotations

import email
import email.utils
import json
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from stopit_mail.app import App, init_installation, open_app
from stopit_mail.cases.escalation import ack_address, advance, escalation_tick, start_escalation
from stopit_mail.cases.escalation_clock import choose_chain, in_business_hours, utc
from stopit_mail.cases.escalation_list import escalation_summary
from stopit_mail.cli import main
from stopit_mail.config.casework import ChainStep, EscalationSettings
from stopit_mail.db import transaction
from stopit_mail.ingest.rawstore import Envelope
from stopit_mail.ingest.service import IngestSummary, ingest_one
from stopit_mail.models import Case, Escalation, EscalationStatus, Event, MessageKind, OutboxMessage, Page, RawMessage

# Tuesday 3 March 2026, 10:00 in New York (EST, UTC-5): business hours.
T0 = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
MAILBOX = "stopit@example.edu"

BUSINESS = [
    ("primary", ["oncall1@example.edu", "5551110001@sms.example.net"], 5),
    ("secondary", ["oncall2@example.edu"], 10),
    ("third", ["dean@example.edu"], 15),
    ("police", ["liaison@police.example.gov"], 20),
]
AFTER_HOURS = [
    ("night-primary", ["night@example.edu"], 5),
    ("night-police", ["desk@police.example.gov"], 10),
]


def _chain_toml(key: str, steps: list[tuple[str, list[str], int]]) -> str:
    return "".join(
        f"\n[[organisations.escalation.{key}]]\ncontact = {contact!r}\naddresses = {json.dumps(addresses)}\n"
        f"wait_minutes = {wait}\n" for contact, addresses, wait in steps)


def make_home(folder: Path, business: list | None = None, after_hours: list | None = None,  # type: ignore[type-arg]
              timezone: str = "America/New_York", database_url: str = "") -> Path:
    """An installation whose organisation has these chains; returns the config path."""
    config = init_installation(folder, "Example University", MAILBOX, database_url)
    text = config.read_text().replace('timezone = "UTC"', f'timezone = "{timezone}"')
    chains = _chain_toml("business_chain", business or []) + _chain_toml("after_hours_chain", after_hours or [])
    config.write_text(text.replace("\n[limits]", chains + "\n[limits]", 1))
    return config


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path, BUSINESS, AFTER_HOURS)


@pytest.fixture
def any_home(tmp_path: Path, any_db_url: str) -> Path:
    """The same installation on SQLite, and on PostgreSQL when the CI provides one."""
    return make_home(tmp_path, BUSINESS, AFTER_HOURS, database_url=any_db_url)


@pytest.fixture
def paging_app(home: Path) -> Iterator[App]:
    app = open_app(home)
    yield app
    app.close()


def report(sender: str = "Robin Reporter <robin@student.example.edu>", text: str = "Please look at this.",
           subject: str = "Report") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = MAILBOX
    msg["Subject"] = subject
    msg["Message-ID"] = email.utils.make_msgid(domain="student.example.edu")
    msg.set_content(f"{text}\n\n---------- Forwarded message ---------\nFrom: Mean Person <mean@bad.example>\n"
                    f"Date: Mon, 2 Mar 2026 09:00:00 -0500\nSubject: hey\nTo: robin@student.example.edu\n\n"
                    f"you will be sorry\n")
    return msg.as_bytes()


def ingest(app: App, content: bytes, mail_from: str = "robin@student.example.edu",
           rcpt_to: list[str] | None = None) -> IngestSummary:
    summary = IngestSummary()
    ingest_one(app, content, Envelope(source="smtp", mail_from=mail_from, rcpt_to=rcpt_to or [MAILBOX]), summary)
    assert summary.processed == 1, summary
    return summary


def routine_case(app: App) -> int:
    """A case opened through the pipeline (routine text, so nothing pages by itself)."""
    ingest(app, report())
    with app.factory() as session:
        case_id = session.scalar(select(Case.id))
        assert session.scalar(select(func.count(Escalation.id))) == 0
        return case_id  # type: ignore[return-value]


def start(app: App, case_id: int, now: datetime = T0) -> Escalation:
    with transaction(app.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.urgency = "emergency"
        esc = start_escalation(session, app.settings, case, now)
        assert esc is not None
        return esc


def pages(app: App) -> list[tuple[int, str, list[str]]]:
    """(page number, contact, outbox recipients) of every page, in order."""
    # An SMS-gateway address gets its own short message (outbox key `page:<esc>:<n>:sms`).
    with app.factory() as session:
        rows = session.execute(select(Page.step, Page.contact, Page.escalation_id).order_by(Page.id)).all()
        result = []
        for step, contact, esc_id in rows:
            recipients = session.scalars(select(OutboxMessage.recipients).where(
                OutboxMessage.dedup_key.in_([f"page:{esc_id}:{step}", f"page:{esc_id}:{step}:sms"]))
                .order_by(OutboxMessage.id)).all()
            result.append((step, contact, [r for group in recipients for r in group]))
        return result


def contacts(app: App) -> list[str]:
    return [contact for _n, contact, _r in pages(app)]


def actions(app: App) -> list[str]:
    with app.factory() as session:
        return list(session.scalars(select(Event.action).order_by(Event.id)))


def escalation(app: App) -> Escalation:
    with app.factory() as session:
        (esc,) = session.scalars(select(Escalation)).all()
        return esc


def tick(app: App, now: datetime) -> int:
    return escalation_tick(app.factory, app.settings, now)


def page_message(app: App, number: int = 0) -> email.message.EmailMessage:
    with app.factory() as session:
        content = session.scalar(select(OutboxMessage.content).join(Page, Page.outbox_id == OutboxMessage.id)
                                 .where(Page.step == number))
    assert content is not None
    return email.message_from_bytes(content, policy=default_policy)  # type: ignore[return-value]


def cli(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["-c", str(config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_unacknowledged_emergency_walks_the_chain_in_order_and_on_time(any_home: Path) -> None:
    with closing(open_app(any_home)) as app:
        walk_the_chain(app)


def walk_the_chain(app: App) -> None:
    start(app, routine_case(app))
    assert pages(app) == [(0, "primary", ["oncall1@example.edu", "5551110001@sms.example.net"])]

    schedule = [  # (minutes after the report, pages expected by then)
        (4.99, ["primary"]),
        (5, ["primary", "secondary"]),
        (14.99, ["primary", "secondary"]),
        (15, ["primary", "secondary", "third"]),
        (29.99, ["primary", "secondary", "third"]),
        (30, ["primary", "secondary", "third", "police"]),
        (49.99, ["primary", "secondary", "third", "police"]),
    ]
    for minutes, expected in schedule:
        tick(app, T0 + timedelta(minutes=minutes))
        assert contacts(app) == expected, f"at +{minutes} min"
    assert pages(app)[1:] == [(1, "secondary", ["oncall2@example.edu"]), (2, "third", ["dean@example.edu"]),
                              (3, "police", ["liaison@police.example.gov"])]

    # After the last step nobody has answered: the chain starts again from the top.
    assert tick(app, T0 + timedelta(minutes=50)) == 1
    assert contacts(app)[4:] == ["primary"]
    assert "escalation-round-restarted" in actions(app)
    assert escalation(app).status is EscalationStatus.ACTIVE
    assert "round 2" in page_message(app, 4).get_content()


def test_page_says_how_to_acknowledge_and_who_is_next(paging_app: App) -> None:
    app = paging_app
    case_id = routine_case(app)
    esc = start(app, case_id)
    msg = page_message(app)
    with app.factory() as session:
        number = session.get(Case, case_id).number  # type: ignore[union-attr]
    alias = f"stopit+ack-{esc.ack_code}@example.edu"
    assert msg["Subject"].startswith(f"[EMERGENCY {number}] Acknowledge: ")
    assert alias in msg["From"] and msg["Reply-To"] == alias
    assert msg["Auto-Submitted"] == "auto-generated"
    body = msg.get_content()
    assert f"stopit ack {number}" in body
    assert "secondary is paged next" in body and "within 5 minutes" in body
    assert "urgency: emergency" in body


def test_ack_command_stops_the_paging(home: Path, paging_app: App) -> None:
    app = paging_app
    case_id = routine_case(app)
    start(app, case_id)
    tick(app, T0 + timedelta(minutes=5))
    with app.factory() as session:
        number = session.get(Case, case_id).number  # type: ignore[union-attr]

    output = cli(home, "--as", "Pat Morgan", "ack", number)
    assert f"acknowledged {number}" in output and "after 2 page(s)" in output
    assert tick(app, T0 + timedelta(hours=3)) == 0
    assert contacts(app) == ["primary", "secondary"]
    esc = escalation(app)
    assert esc.status is EscalationStatus.ACKNOWLEDGED and esc.acknowledged_by == "Pat Morgan"
    with app.factory() as session:
        event = session.scalars(select(Event).where(Event.action == "escalation-acknowledged")).one()
    assert event.actor == "Pat Morgan" and event.automatic is False and event.detail["via"] == "command"
    with app.factory() as session:
        (stand_down,) = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "stand-down")).all()
        # Everyone already paged (primary's email and SMS gateway, secondary) hears it is handled.
        assert sorted(stand_down.recipients) == sorted(BUSINESS[0][1] + BUSINESS[1][1])
        assert b"acknowledged by Pat Morgan" in stand_down.content

    # Nothing left to acknowledge, and a wrong code is refused: both clean one-line errors.
    again = CliRunner().invoke(main, ["-c", str(home), "--as", "Pat Morgan", "ack", number])
    assert again.exit_code == 1 and "no open escalation" in again.output


def test_ack_command_checks_the_code_when_given(home: Path, paging_app: App) -> None:
    app = paging_app
    case_id = routine_case(app)
    esc = start(app, case_id)
    with app.factory() as session:
        number = session.get(Case, case_id).number  # type: ignore[union-attr]
    wrong = CliRunner().invoke(main, ["-c", str(home), "--as", "Pat", "ack", number, "--code", "0000-0000-0000"])
    assert wrong.exit_code == 1 and "not the acknowledgement code" in wrong.output
    assert escalation(app).status is EscalationStatus.ACTIVE
    code = "-".join(esc.ack_code[i:i + 4] for i in (0, 4, 8)).upper()
    cli(home, "--as", "Pat", "ack", number, "--code", code)
    assert escalation(app).status is EscalationStatus.ACKNOWLEDGED


def reply_to_page(app: App, sender: str, body: str, auto: bool = False, to: str | None = None) -> bytes:
    page = page_message(app)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to or page["Reply-To"]
    msg["Subject"] = ("Automatic reply: " if auto else "Re: ") + page["Subject"]
    msg["In-Reply-To"] = page["Message-ID"]
    msg["Message-ID"] = email.utils.make_msgid(domain="example.edu")
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(body)
    return msg.as_bytes()


def test_reply_to_the_page_acknowledges_and_opens_no_case(paging_app: App) -> None:
    app = paging_app
    start(app, routine_case(app))
    alias = escalation(app).ack_code
    content = reply_to_page(app, "On Call <oncall1@example.edu>", "Got it, calling the student's family now.")
    ingest(app, content, mail_from="oncall1@example.edu", rcpt_to=[f"stopit+ack-{alias}@example.edu"])

    esc = escalation(app)
    assert esc.status is EscalationStatus.ACKNOWLEDGED and esc.acknowledged_by == "oncall1@example.edu"
    assert tick(app, T0 + timedelta(hours=2)) == 0 and contacts(app) == ["primary"]
    with app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 1
        raw = session.scalars(select(RawMessage).order_by(RawMessage.id.desc())).first()
        assert raw is not None and raw.kind is MessageKind.REPLY and raw.case_id == esc.case_id
        event = session.scalars(select(Event).where(Event.action == "escalation-acknowledged")).one()
    assert event.automatic is False and event.detail["via"] == "reply"
    assert "calling the student's family" in event.detail["text"]


def test_code_quoted_in_a_message_without_the_alias_acknowledges(paging_app: App) -> None:
    # An SMS gateway that drops the plus address: the code typed or quoted still counts.
    app = paging_app
    start(app, routine_case(app))
    code = escalation(app).ack_code
    sms = EmailMessage()
    sms["From"] = "5551110001@sms.example.net"
    sms["To"] = MAILBOX
    sms["Message-ID"] = email.utils.make_msgid(domain="sms.example.net")
    sms.set_content(f"ok ACK {code[:4].upper()} {code[4:8]} {code[8:]}")
    ingest(app, sms.as_bytes(), mail_from="5551110001@sms.example.net")
    assert escalation(app).status is EscalationStatus.ACKNOWLEDGED
    with app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 1


def test_out_of_office_reply_does_not_acknowledge(paging_app: App) -> None:
    app = paging_app
    start(app, routine_case(app))
    code = escalation(app).ack_code
    ooo = reply_to_page(app, "oncall1@example.edu", "I am out of the office until Monday.", auto=True)
    ingest(app, ooo, mail_from="oncall1@example.edu", rcpt_to=[f"stopit+ack-{code}@example.edu"])

    assert escalation(app).status is EscalationStatus.ACTIVE
    assert "page-auto-reply-ignored" in actions(app)
    assert tick(app, T0 + timedelta(minutes=5)) == 1 and contacts(app) == ["primary", "secondary"]
    with app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 1


def test_unknown_ack_code_is_set_aside_not_a_new_case(paging_app: App) -> None:
    app = paging_app
    routine_case(app)
    msg = EmailMessage()
    msg["From"] = "someone@example.org"
    msg["To"] = "stopit+ack-zzzzzzzzzzzz@example.edu"
    msg["Subject"] = "ack"
    msg.set_content("ack")
    ingest(app, msg.as_bytes(), mail_from="someone@example.org", rcpt_to=["stopit+ack-zzzzzzzzzzzz@example.edu"])
    assert "ack-unmatched" in actions(app)
    with app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 1


def test_restart_mid_chain_pages_every_overdue_step_once_in_order(any_home: Path) -> None:
    home = any_home
    first = open_app(home)
    start(first, routine_case(first))
    tick(first, T0 + timedelta(minutes=5))
    assert contacts(first) == ["primary", "secondary"]
    first.close()

    # The worker was down from +6 to +31 minutes: third (+15) and police (+30) are overdue.
    second = open_app(home)
    try:
        now = T0 + timedelta(minutes=31)
        assert tick(second, now) == 2
        assert contacts(second) == ["primary", "secondary", "third", "police"]
        assert tick(second, now) == 0
        with second.factory() as session:
            esc_id = session.scalar(select(Escalation.id))
            assert esc_id is not None
            assert advance(session, second.settings, esc_id, now) == 0
            keys = session.scalars(select(OutboxMessage.dedup_key).where(OutboxMessage.kind == "page")).all()
        assert sorted(keys) == sorted([f"page:{esc_id}:{n}" for n in range(4)] + [f"page:{esc_id}:0:sms"])
        # Deadlines follow the schedule, not the late tick: police waits until +50, not +51.
        assert utc(escalation(second).next_deadline) == T0 + timedelta(minutes=50)
        paged = [e for e in actions(second) if e == "escalation-paged"]
        assert len(paged) == 4
        with second.factory() as session:
            late = [e.detail["late_seconds"] for e in session.scalars(
                select(Event).where(Event.action == "escalation-paged").order_by(Event.id))]
        assert late == [0, 0, 16 * 60, 60]
    finally:
        second.close()


def test_long_outage_pages_one_round_then_counts_from_now(paging_app: App) -> None:
    app = paging_app
    start(app, routine_case(app))
    now = T0 + timedelta(hours=5)
    assert tick(app, now) == 4  # secondary, third, police, then primary again: everyone once
    assert contacts(app) == ["primary", "secondary", "third", "police", "primary"]
    assert utc(escalation(app).next_deadline) == now + timedelta(minutes=5)
    assert "escalation-rescheduled" in actions(app)
    assert tick(app, now + timedelta(minutes=4)) == 0


@pytest.mark.parametrize(("when", "expected"), [
    (datetime(2026, 3, 3, 8, 0, tzinfo=UTC), "after-hours"),    # Tuesday 03:00 New York
    (datetime(2026, 3, 3, 13, 0, tzinfo=UTC), "business"),      # Tuesday 08:00, opening
    (datetime(2026, 3, 3, 15, 0, tzinfo=UTC), "business"),      # Tuesday 10:00
    (datetime(2026, 3, 3, 22, 0, tzinfo=UTC), "after-hours"),   # Tuesday 17:00, closed
    (datetime(2026, 3, 7, 15, 0, tzinfo=UTC), "after-hours"),   # Saturday 10:00
    (datetime(2026, 7, 7, 14, 0, tzinfo=UTC), "business"),      # Tuesday 10:00 EDT (summer time)
])
def test_chain_follows_business_hours_in_the_organisations_timezone(when: datetime, expected: str) -> None:
    settings = EscalationSettings(
        timezone="America/New_York",
        business_chain=[ChainStep("primary", ["a@example.edu"], 5)],
        after_hours_chain=[ChainStep("night", ["n@example.edu"], 5)],
    )
    name, steps = choose_chain(settings, when)
    assert name == expected
    assert steps[0]["contact"] == ("primary" if expected == "business" else "night")


def test_overnight_hours_belong_to_the_day_they_start() -> None:
    settings = EscalationSettings(timezone="UTC", business_hours="22:00-06:00", business_days=[5])
    assert in_business_hours(settings, datetime(2026, 3, 6, 23, 0, tzinfo=UTC))      # Friday night
    assert in_business_hours(settings, datetime(2026, 3, 7, 5, 59, tzinfo=UTC))      # Saturday early
    assert not in_business_hours(settings, datetime(2026, 3, 6, 5, 0, tzinfo=UTC))   # Friday early


def test_only_one_chain_configured_pages_it_at_any_hour() -> None:
    settings = EscalationSettings(timezone="America/New_York",
                                  business_chain=[ChainStep("primary", ["a@example.edu"], 5)])
    assert choose_chain(settings, datetime(2026, 3, 3, 8, 0, tzinfo=UTC))[0] == "business"


def test_three_am_emergency_pages_the_after_hours_chain(paging_app: App) -> None:
    app = paging_app
    esc = start(app, routine_case(app), datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
    assert esc.chain == "after-hours"
    assert pages(app) == [(0, "night-primary", ["night@example.edu"])]
    assert "03:00 EST" in page_message(app).get_content()


def test_no_chain_configured_is_loud_never_silent(tmp_path: Path) -> None:
    config = make_home(tmp_path)  # the default configuration: no chain at all
    app = open_app(config)
    try:
        case_id = routine_case(app)
        esc = start(app, case_id)
        assert esc.status is EscalationStatus.EXHAUSTED and esc.chain == "none"
        assert "escalation-impossible" in actions(app)
        with app.factory() as session:
            alert = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "escalation-alert")).one()
            number = session.get(Case, case_id).number  # type: ignore[union-attr]
        assert alert.recipients == [MAILBOX] and "NOBODY WAS PAGED" in alert.subject
        assert tick(app, T0 + timedelta(hours=1)) == 0
        with app.factory() as session:
            assert escalation_summary(session, T0)["impossible"] == 1

        # The alert reaching our own mailbox is set aside: not a report, not an acknowledgement.
        with app.factory() as session:
            content = session.scalar(select(OutboxMessage.content).where(OutboxMessage.id == alert.id))
        assert content is not None
        ingest(app, content, mail_from=alert.envelope_from)
        assert escalation(app).status is EscalationStatus.EXHAUSTED
        with app.factory() as session:
            assert session.scalar(select(func.count(Case.id))) == 1

        rows = json.loads(cli(config, "escalations", "--json"))
        assert [(r["case"], r["status"]) for r in rows] == [(number, "impossible")]
        assert "NOBODY WAS PAGED" in rows[0]["alert"]
        assert "IMPOSSIBLE" in cli(config, "escalations")

        # A person taking charge clears it.
        cli(config, "--as", "Pat", "ack", number)
        assert json.loads(cli(config, "escalations", "--json")) == []
    finally:
        app.close()


def test_page_says_where_when_and_who_but_never_who_reported(paging_app: App) -> None:
    app = paging_app
    wrapper = "My friend Casper told me he wants to kill himself tonight behind the gym."
    content = report(sender="Quentin Zebulon <qz.reporter.4417@student.example.edu>", text=wrapper,
                     subject="please help Casper")
    ingest(app, content, mail_from="qz.reporter.4417@student.example.edu")

    # Triage read the report as an emergency, and the pipeline paged at once (real clock:
    # the business chain has an SMS gateway, the after-hours chain does not).
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        assert case.urgency == "emergency"
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "page")).all()
        texts = [row.content.decode("utf-8", "replace") for row in rows]
    mail = [row for row in rows if not row.dedup_key.endswith(":sms")]
    assert len(mail) == 1 and mail[0].recipients in ([BUSINESS[0][1][0]], AFTER_HOURS[0][1])
    body = email.message_from_bytes(mail[0].content, policy=default_policy).get_content()  # type: ignore[attr-defined]
    assert "self-harm" in body
    # What the on-call person needs to act, as far as the report says.
    assert "Where:       behind the gym" in body and "When:        tonight" in body
    assert "Who at risk: the reporter's friend" in body
    # Nothing that identifies the reporter, names the person at risk, or quotes the report.
    for text in texts + [body]:
        for secret in ("qz.reporter.4417", "Quentin", "Zebulon", "Casper", wrapper,
                       "kill himself", "you will be sorry", "mean@bad.example"):
            assert secret not in text


def test_escalations_lists_open_ones_with_their_clocks(tmp_path: Path) -> None:
    config = make_home(tmp_path, BUSINESS)  # business chain only: chosen at any hour
    app = open_app(config)
    try:
        case_id = routine_case(app)
        start(app, case_id, datetime.now(UTC))
        with app.factory() as session:
            number = session.get(Case, case_id).number  # type: ignore[union-attr]
        (row,) = json.loads(cli(config, "escalations", "--json"))
        assert row["case"] == number and row["status"] == "active" and row["chain"] == "business"
        assert (row["step"], row["steps"], row["round"]) == (1, 4, 1)
        assert (row["contact"], row["next_contact"], row["pages_sent"]) == ("primary", "secondary", 1)
        assert 240 < row["next_page_in_seconds"] <= 300
        assert 0 <= row["running_seconds"] < 60 and row["alert"] is None
        assert row["contacts"] == ["primary", "secondary", "third", "police"]
        table = cli(config, "escalations")
        assert number in table and "primary" in table

        cli(config, "--as", "Pat", "ack", number)
        assert json.loads(cli(config, "escalations", "--json")) == []
        (done,) = json.loads(cli(config, "escalations", "--all", "--json"))
        assert done["status"] == "acknowledged" and done["acknowledged_by"] == "Pat"
        assert done["next_page_in_seconds"] is None
    finally:
        app.close()


def test_overdue_page_is_flagged_when_no_worker_ticks(home: Path, paging_app: App) -> None:
    app = paging_app
    start(app, routine_case(app), datetime.now(UTC) - timedelta(minutes=30))
    (row,) = json.loads(cli(home, "escalations", "--json"))
    assert row["next_page_in_seconds"] < 0 and "OVERDUE" in row["alert"]
    with app.factory() as session:
        assert escalation_summary(session, datetime.now(UTC))["overdue"] == 1


def test_starting_twice_pages_once(paging_app: App) -> None:
    app = paging_app
    case_id = routine_case(app)
    start(app, case_id)
    with transaction(app.factory) as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert start_escalation(session, app.settings, case, T0 + timedelta(seconds=1)) is None
    assert contacts(app) == ["primary"]


def test_ack_address_is_the_mailbox_alias(paging_app: App) -> None:
    org = paging_app.settings.default_organisation()
    assert ack_address(org, "abcd") == "stopit+ack-abcd@example.edu"


def test_a_claimed_escalation_is_skipped_by_a_second_worker(tmp_path: Path, pg_database: str) -> None:
    # PostgreSQL only: while one worker holds the row (FOR UPDATE), another's tick skips it.
    with closing(open_app(make_home(tmp_path, BUSINESS, AFTER_HOURS, database_url=pg_database))) as app:
        start(app, routine_case(app))
        due = T0 + timedelta(minutes=5)
        with app.factory() as holder, holder.begin():
            holder.scalars(select(Escalation).with_for_update()).all()
            assert tick(app, due) == 0
        assert tick(app, due) == 1
        assert contacts(app) == ["primary", "secondary"]


def test_bounce_of_a_page_does_not_acknowledge(paging_app: App) -> None:
    app = paging_app
    start(app, routine_case(app))
    page = page_message(app)
    dsn = EmailMessage()
    dsn["From"] = "MAILER-DAEMON@mx.example.edu"
    dsn["To"] = page["Reply-To"]
    dsn["Subject"] = "Undelivered Mail Returned to Sender"
    dsn.set_content("The page could not be delivered.")
    dsn.add_attachment(page, disposition="inline")
    dsn.set_type("multipart/report")
    dsn.set_param("report-type", "delivery-status")
    content = dsn.as_bytes()
    ingest(app, content, mail_from="", rcpt_to=[page["Reply-To"]])
    assert escalation(app).status is EscalationStatus.ACTIVE
    assert "bounce-received" in actions(app)
    with app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 1


def test_an_undeliverable_page_moves_the_chain_on_at_once(paging_app: App) -> None:
    """If the primary's address bounces permanently, the secondary is paged now, not after the wait."""
    from stopit_mail.outbound.delivery import DeliveryError
    from stopit_mail.outbound.sender import deliver_due

    class Bouncing:
        def deliver(self, outbox_id: int, envelope_from: str, recipients: list[str], content: bytes) -> None:
            raise DeliveryError("550 5.1.1 no such user", permanent=True)

    start(paging_app, routine_case(paging_app), T0)
    first = contacts(paging_app)
    assert len(first) == 1
    # Outbox rows are stamped with the real clock; deliver "now" so the page is due.
    assert deliver_due(paging_app.factory, paging_app.settings, Bouncing(), now=datetime.now(UTC))["failed"] >= 1
    assert tick(paging_app, T0 + timedelta(minutes=1)) == 1
    assert contacts(paging_app)[:2] == [first[0], BUSINESS[1][0]]
    assert "page-undeliverable" in actions(paging_app)
