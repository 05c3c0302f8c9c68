"""Please-stop notices and referrals never reveal the reporter; previews are exact."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.cases.codes import format_code
from stopit_mail.cases.identity_gate import disclose_by_consent
from stopit_mail.cases.notices import NOTICE_TEMPLATES, NoticeError, prepare_notice, send_notice
from stopit_mail.cases.queries import get_case
from stopit_mail.cases.referrals import prepare_referral
from stopit_mail.cases.staff import Actor
from stopit_mail.cli import main
from stopit_mail.models import CaseStatus, Event, OutboxMessage
from stopit_mail.outbound.render import TemplateError

from casework_helpers import ingest, latest_case, offending_message, open_case, report

STAFF = Actor("Pat Morgan", restricted=False)


def _with_office(app: App) -> None:
    from stopit_mail.config import Office

    app.settings.organisations[0].offices = [
        Office(name="title-ix", title="Title IX Office", addresses=["titleix@example.edu"], categories=["sexual-harassment"])]


def test_notice_is_polite_addressed_to_the_sender_and_reveals_nothing(app: App) -> None:
    ingest(app, report(reporter="jordan.lee@example.edu", name="Jordan Lee",
                       wrapper="I'm Jordan in room 12, he keeps writing to me"))
    case = latest_case(app)
    for template in NOTICE_TEMPLATES:
        text = prepare_notice(app.settings, case, template).preview()
        assert "To: offender@example.net" in text
        assert f"From: Example University stopit <stopit+{case.sender_code}@example.edu>" in text
        for secret in ("jordan", "Jordan", "room 12", case.reporter_code, format_code(case.reporter_code)):
            assert secret not in text
        assert "(in November 2026)" in text  # the month only: see the test below


def test_notice_gives_the_month_not_the_moment_nor_the_count(app: App) -> None:
    """A sender who wrote to several people learns from the minute, the day or the number of
    messages quoted which one of them reported; the notice gives only the month."""
    first = offending_message(to="victim@example.edu", date="Mon, 16 Nov 2026 04:41:03 +0000")
    msg = EmailMessage()
    msg["From"] = "Vic Tim <victim@example.edu>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "Fwd: two of them"
    msg.set_content("He sent me these two.")
    msg.add_attachment(first, maintype="message", subtype="rfc822")
    msg.add_attachment(offending_message(to="victim@example.edu", date="Tue, 1 Dec 2026 23:05:00 -0500",
                                         message_id="<off-2@example.net>"),
                       maintype="message", subtype="rfc822")
    ingest(app, msg.as_bytes())
    case = latest_case(app)
    assert len([item for item in case.evidence if item.orig_date]) == 2
    for template in NOTICE_TEMPLATES:
        body = prepare_notice(app.settings, case, template).preview().partition("\n\n")[2]
        assert "(in November 2026, in December 2026)" in body
        for moment in ("16 Nov", "04:41", "1 Dec", "23:05", "2 messages", "two messages", "a message sent"):
            assert moment not in body


def test_send_queues_through_outbox_and_records_who(app: App) -> None:
    ingest(app, report())
    with app.factory() as session, session.begin():
        case = get_case(session, latest_case(app).number)
        row = send_notice(session, app.settings, STAFF, case, "please-stop")
        assert case.status is CaseStatus.NOTICE_SENT
        assert row.kind == "notice" and row.recipients == ["offender@example.net"]
        with pytest.raises(NoticeError, match="already queued"):
            send_notice(session, app.settings, STAFF, case, "please-stop")
    with app.factory() as session:
        queued = session.scalars(select(Event).where(Event.action == "notice-queued")).one()
        assert queued.actor == "Pat Morgan" and queued.detail["template"] == "please-stop"
        assert queued.automatic is False


def test_notice_refuses_to_write_to_a_reporter_or_ourselves(app: App) -> None:
    ingest(app, report(reporter="victim@example.edu"))
    case = latest_case(app)
    with pytest.raises(NoticeError, match="belongs to a reporter"):
        prepare_notice(app.settings, case, recipient="victim@example.edu")
    with pytest.raises(NoticeError, match="our own addresses"):
        prepare_notice(app.settings, case, recipient="stopit@example.edu")


def test_organisation_override_and_undefined_variables(app: App, tmp_path: Path) -> None:
    overrides = tmp_path / "my-templates" / "sender"
    overrides.mkdir(parents=True)
    (overrides / "please-stop.txt.j2").write_text("Subject: Custom\n\nDear {{ recipient }}, stop. {{ organisation }}\n")
    app.settings.organisations[0].templates_dir = str(tmp_path / "my-templates")
    ingest(app, report())
    case = latest_case(app)
    assert "Dear offender@example.net, stop. Example University" in prepare_notice(app.settings, case).preview()
    (overrides / "please-stop.txt.j2").write_text("Subject: Custom\n\nHello {{ reporter_name }}\n")
    with pytest.raises(TemplateError, match="'reporter_name' is undefined"):
        prepare_notice(app.settings, case)


def test_guard_refuses_a_template_that_smuggles_the_reporter(app: App, tmp_path: Path) -> None:
    ingest(app, report(reporter="kim.park@example.edu", name="Kim Park"))
    case = latest_case(app)
    overrides = tmp_path / "t" / "sender"
    overrides.mkdir(parents=True)
    # A careless override that hard-codes a reporter's address must still be stopped.
    (overrides / "please-stop.txt.j2").write_text("Subject: x\n\nkim.park@example.edu told us about you\n")
    app.settings.organisations[0].templates_dir = str(tmp_path / "t")
    with pytest.raises(NoticeError, match="would reveal the reporter"):
        prepare_notice(app.settings, case)


def test_referral_without_consent_redacts_and_with_consent_names(app: App) -> None:
    _with_office(app)
    ingest(app, report(reporter="kim.park@example.edu", name="Kim Park", wrapper="He sent sexual messages to me, Kim"))
    with open_case(app) as (_session, case):
        case.categories = ["sexual-harassment"]
        referral = prepare_referral(app.settings, case, "title-ix")
        assert "kim.park" not in referral.preview().lower() and "identity withheld" in referral.preview()
        (attached,) = referral.draft.attachments
        assert b"kim.park" not in attached.content.lower() and b"[reporter]" in attached.content
        with pytest.raises(NoticeError, match="has not agreed"):
            prepare_referral(app.settings, case, "title-ix", with_identity=True)
        case.identity_consent = True
        named = prepare_referral(app.settings, case, "title-ix", with_identity=True,
                                 identities=disclose_by_consent(_session, app.settings, None, case, "title-ix"))
        assert "Kim Park <kim.park@example.edu>" in named.preview()


def test_notice_cli_preview_and_send(app: App, tmp_path: Path) -> None:
    ingest(app, report())
    number = latest_case(app).number
    config = str(app.settings.base_dir / "stopit.toml")
    runner = CliRunner()
    preview = runner.invoke(main, ["-c", config, "--as", "Pat", "notice", "preview", number])
    assert preview.exit_code == 0 and "offender@example.net" in preview.output
    declined = runner.invoke(main, ["-c", config, "--as", "Pat", "notice", "send", number], input="n\n")
    assert declined.exit_code == 1
    sent = runner.invoke(main, ["-c", config, "--as", "Pat", "notice", "send", number, "--yes"])
    assert sent.exit_code == 0, sent.output
    with app.factory() as session:
        assert session.scalars(select(OutboxMessage.kind).where(OutboxMessage.kind == "notice")).all() == ["notice"]


_NAME = st.builds(lambda a, b: f"{a.title()} {b.title()}", st.from_regex(r"[a-z]{3,9}", fullmatch=True),
                  st.from_regex(r"[a-z]{3,9}", fullmatch=True))
_LOCAL = st.from_regex(r"[a-z][a-z0-9.]{3,14}[a-z0-9]", fullmatch=True)
_WORDS = st.lists(st.sampled_from("please help this boy keeps sending me awful things at night since monday "
                                  "my friend saw it too i am scared what should we do".split()), min_size=4, max_size=30)
_TEMPLATE_VARS = st.lists(st.sampled_from(["{{ organisation }}", "{{ recipient }}", "{{ reply_address }}",
                                           "{{ incidents | join(', ') }}", "please stop", "thank you"]), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_NAME, local=_LOCAL, words=_WORDS, template_parts=_TEMPLATE_VARS, anonymous=st.booleans())
def test_no_notice_or_referral_carries_the_reporter(app: App, tmp_path_factory: pytest.TempPathFactory, name: str,
                                                    local: str, words: list[str], template_parts: list[str],
                                                    anonymous: bool) -> None:
    _with_office(app)
    folder = tmp_path_factory.mktemp("tpl")
    (folder / "sender").mkdir()
    (folder / "sender" / "please-stop.txt.j2").write_text("Subject: About your messages\n\n" + " ".join(template_parts) + "\n")
    app.settings.organisations[0].templates_dir = str(folder)
    address = f"{local}@school.example.edu"
    wrapper = " ".join(words)
    subject = "Fwd: anonymous report" if anonymous else "Fwd: look"
    original = offending_message(to=address, body=f"hi {name}, nobody wants you here", message_id=f"<m{len(words)}x{len(name)}@example.net>")
    ingest(app, report(reporter=address, name=name, wrapper=wrapper, subject=subject, original=original))
    with open_case(app) as (_session, case):
        _check_no_leak(app, case, address, name, wrapper)


def _check_no_leak(app: App, case, address: str, name: str, wrapper: str) -> None:  # type: ignore[no-untyped-def]
    case.categories = ["sexual-harassment"]
    identifiers = [address, name, case.reporter_code, format_code(case.reporter_code)]
    # The alleged sender never reads the reporter's words; an office may (who they are stays hidden).
    words = [wrapper] if len(wrapper) >= 16 else []
    outputs = []
    for template in NOTICE_TEMPLATES:
        try:
            outputs.append((prepare_notice(app.settings, case, template).preview(), identifiers + words))
        except NoticeError as exc:
            assert "refused" in str(exc)
    referral = prepare_referral(app.settings, case, "title-ix")
    outputs.append((referral.preview(), identifiers))
    outputs.extend((a.content.decode("utf-8", "replace"), identifiers) for a in referral.draft.attachments)
    for text, secrets in outputs:
        folded = " ".join(text.split()).lower()
        for secret in secrets:
            assert " ".join(secret.split()).lower() not in folded


def test_the_recipients_reply_threads_back_into_the_case(app: App) -> None:
    from email.message import EmailMessage

    ingest(app, report())
    with open_case(app) as (session, case):
        row = send_notice(session, app.settings, STAFF, case, "please-stop")
        alias, number = f"stopit+{case.sender_code}@example.edu", case.number
        message_id = row.message_id
    answer = EmailMessage()
    answer["From"] = "offender@example.net"
    answer["To"] = alias
    answer["Subject"] = "Re: A request from Example University"
    answer["In-Reply-To"] = message_id
    answer.set_content("Sorry, it was a joke. I will stop.")
    ingest(app, answer.as_bytes(), rcpt=alias)
    with open_case(app, number) as (session, _case):
        reply = session.scalars(select(Event).where(Event.action == "reply-received")).one()
        assert reply.case_id == _case.id
        assert (reply.detail["side"], reply.detail["sender"]) == ("alleged-sender", "offender@example.net")
