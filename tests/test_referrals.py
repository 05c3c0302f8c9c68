"""Referrals an office can act on (issue 12), through the CLI and the real pipeline.

A referral carries the reporter's words and the evidence (text, verification), the triage's
reasons and staff's note, but not who the reporter is unless they consented, checked on the
final decoded MIME tree; after consent staff send an UPDATED referral, a new audited message;
an emergency's automatic referral says where, when and who is at risk; and the office's answer
is filed as the office's, on the case, without paging anyone again for the words it quotes.
"""

from __future__ import annotations

import json
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from sqlalchemy import select

from stopit_mail.app import App, open_app
from stopit_mail.cases.reporter_traces import reporter_traces
from stopit_mail.models import Case, CaseStatus, Escalation, Event, OutboxMessage, Page
from stopit_mail.outbound.redact import find_leaks

from casework_helpers import ingest, offending_message, report
from factories import cli

KIM = "kim.park@example.edu"
OFFICES = """
[[organisations.offices]]
name = "title-ix"
title = "Title IX Office"
addresses = ["titleix@example.edu"]
categories = ["sexual-harassment"]

[[organisations.offices]]
name = "dean-on-call"
title = "Dean on call"
addresses = ["dean@example.edu"]
categories = ["self-harm"]
urgencies = ["emergency"]
auto_refer = true

"""


CHAINS = "".join(f"""
[[organisations.escalation.{key}]]
contact = "on call"
addresses = ["oncall@example.edu"]
wait_minutes = 10
""" for key in ("business_chain", "after_hours_chain"))


def _installation(app: App, chains: bool = False) -> tuple[Path, App]:
    config = app.settings.base_dir / "stopit.toml"
    text = config.read_text()
    config.write_text(text.replace("\n[limits]", (CHAINS if chains else "") + OFFICES + "[limits]", 1))
    return config, open_app(config)


def _referrals(app: App, number: str) -> list[OutboxMessage]:
    with app.factory() as session:
        case_id = session.scalars(select(Case.id).where(Case.number == number)).one()
        rows = list(session.scalars(select(OutboxMessage).where(
            OutboxMessage.case_id == case_id, OutboxMessage.kind == "referral").order_by(OutboxMessage.id)))
        for row in rows:
            _ = row.content
        return rows


def _decoded(content: bytes) -> str:
    """Every text part of the message, decoded (what the office's mail client shows)."""
    message = BytesParser(policy=policy.default).parsebytes(content)
    texts = [str(message["Subject"])]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            texts.append(part.get_content())  # type: ignore[union-attr]
    return "\n".join(texts).replace("\r\n", "\n")


def _harassment_case(app: App, config: Path) -> str:
    original = offending_message(sender="offender@example.net", to=KIM,
                                 body="Hi Kim, send me nudes or I post your photos. You know what happens.")
    ingest(app, report(reporter=KIM, name="Kim Park", original=original,
                       wrapper="This is Kim Park (kim.park@example.edu). He has been sending me sexual messages "
                               "since Monday and says he will post photos of me."))
    with app.factory() as session:
        number = session.scalars(select(Case.number)).one()
    cli(config, "--as", "Pat", "cases", "classify", number, "--category", "sexual-harassment", "--reason",
        "sexual messages and a threat to post photos")
    return number


def test_a_referral_carries_words_evidence_reasons_and_note_but_not_who_reported(app: App) -> None:
    config, app = _installation(app)
    try:
        number = _harassment_case(app, config)
        out = cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--yes",
                  "--note", "Second report about this sender this term; please call the Dean.")
        assert "queued referral" in out and "identity is withheld" in out
        (row,) = _referrals(app, number)
        text = _decoded(row.content)
        # The reporter's own words and the evidence's text, with who they are scrubbed.
        assert "He has been sending me sexual messages since Monday" in text
        assert "This is [reporter] [reporter] ([reporter])" in text
        assert "send me nudes or I post your photos" in text and "Hi [reporter]," in text
        assert "From:    Some One <offender@example.net>" in text
        assert "Verification: " in text
        assert "reclassified by staff (Pat) as" in text and "sexual messages and a threat to post photos" in text
        assert "Note from stopit staff (Pat):\nSecond report about this sender this term" in text
        # Nothing identifying anywhere in the final decoded MIME tree (headers, parts, attached message).
        with app.factory() as session:
            case = session.scalars(select(Case).where(Case.number == number)).one()
            assert find_leaks(row.content, reporter_traces(app.settings, case, keep={"titleix@example.edu"},
                                                           words=False)) == []
        assert b"kim.park" not in row.content.lower() and "kim park" not in text.lower()
        # The note is on the case record, and the case shows the referral in its conversation.
        shown = cli(config, "--as", "Pat", "cases", "show", number)
        assert "referral" in shown and "UPDATED" not in shown
    finally:
        app.close()


def test_consent_after_a_referral_lets_staff_send_an_updated_one_with_identity(any_app: App) -> None:
    config, app = _installation(any_app)
    try:
        number = _harassment_case(app, config)
        cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--yes")
        # A repeat that adds nothing is refused, with what to do; nothing is queued or re-queued.
        again = cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--yes", ok=False)
        assert "already referred to title-ix" in again and "--with-identity once the reporter consents" in again
        refused = cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--with-identity", "--yes", ok=False)
        assert "has not agreed to share their identity" in refused
        assert len(_referrals(app, number)) == 1
        cli(config, "--as", "Pat", "cases", "consent", number, "--reason", "Kim said yes on the phone, 30 Nov")
        out = cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--with-identity", "--yes")
        first, updated = _referrals(app, number)
        assert f"queued an UPDATED referral of {number} to title-ix (outbox {updated.id}), replacing" in out
        assert f"(outbox {first.id}); it includes the reporter's identity" in out
        text = _decoded(updated.content)
        assert "UPDATED referral" in str(updated.subject) and "THIS IS AN UPDATED REFERRAL" in text
        assert "Kim Park <kim.park@example.edu>" in text and "agreed to share their identity" in text
        assert updated.message_id != first.message_id and b"kim.park" not in first.content.lower()
        with app.factory() as session:
            queued = [e.detail for e in session.scalars(select(Event).where(Event.action == "referral-queued")
                                                         .order_by(Event.id))]
        assert [(d["with_identity"], d.get("update_of")) for d in queued] == [(False, None), (True, first.id)]
        # The office answers the updated referral from its own client, to the plain mailbox: it
        # threads on our Message-ID and is filed on the case as the office's.
        answer = EmailMessage()
        answer["From"], answer["To"] = "Title IX <titleix@example.edu>", "stopit@example.edu"
        answer["Subject"], answer["In-Reply-To"] = "RE: updated referral", updated.message_id
        answer.set_content("Thank you, we will contact the student today.")
        ingest(app, answer.as_bytes())
        with app.factory() as session:
            (filed,) = session.scalars(select(Event).where(Event.action == "reply-received")).all()
            assert (filed.detail["side"], filed.detail["office"]) == ("office", "title-ix")
            assert session.scalars(select(Case.number)).all() == [number]
        # With identity sent, a further one needs --update (new evidence, a new note).
        cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--with-identity", "--yes", ok=False)
        cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--with-identity", "--update", "--yes",
            "--note", "New messages arrived")
        assert len(_referrals(app, number)) == 3
        detail = json.loads(cli(config, "--as", "Pat", "cases", "show", number, "--json"))
        assert detail["status"] == CaseStatus.REFERRED.value
    finally:
        app.close()


def _emergency_report() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Kai Lee <kai.lee@example.edu>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "please help"
    msg.set_content("My friend took pills tonight and says she wants to kill herself. "
                    "She is in Baker House room 312 right now. I am Kai.")
    return msg.as_bytes()


def test_an_emergencys_automatic_referral_says_where_when_and_who_and_the_office_answer_is_filed(app: App) -> None:
    config, app = _installation(app, chains=True)
    try:
        ingest(app, _emergency_report())
        with app.factory() as session:
            case = session.scalars(select(Case)).one()
            number, alias = case.number, case.id
            assert case.urgency == "emergency" and case.status is CaseStatus.REFERRED
        (referral,) = _referrals(app, number)
        assert referral.recipients == ["dean@example.edu"]
        text = _decoded(referral.content)
        assert "WHAT YOU NEED TO ACT" in text
        act = text.split("WHAT YOU NEED TO ACT", 1)[1].split("\n\n", 1)[0]
        assert "in Baker House room 312" in act and "tonight" in act and "the reporter's friend" in act
        assert "took pills tonight" in text and "kai.lee" not in text.lower() and "Kai" not in text
        # The on-call person was paged and acknowledged: paging has stopped.
        assert "acknowledged" in cli(config, "--as", "Pat", "ack", number)
        with app.factory() as session:
            pages_before = len(session.scalars(select(Page.id)).all())
            escalations = len(session.scalars(select(Escalation.id)).all())
            assert pages_before >= 1 and escalations == 1
        # The dean answers from their own client: to the plain mailbox, threading on the referral,
        # quoting it (the report's words included), Outlook style and with ">" quotes.
        reply_to = BytesParser(policy=policy.default).parsebytes(referral.content)["Reply-To"]
        for n, (to, quoted) in enumerate(((str(reply_to), "> She is in Baker House room 312 right now."),
                                          ("stopit@example.edu", "-----Original Message-----\nFrom: stopit\n"
                                           "My friend took pills tonight and says she wants to kill herself."))):
            answer = EmailMessage()
            answer["From"] = "Dean Rivera <dean@example.edu>"
            answer["To"] = to
            answer["Subject"] = f"RE: [{number}] Referral from stopit: self-harm (emergency)"
            answer["In-Reply-To"] = referral.message_id
            answer["Message-ID"] = f"<dean-{n}@example.edu>"
            answer.set_content(f"We are on our way to the room; campus police informed.\n\n{quoted}\n")
            ingest(app, answer.as_bytes(), rcpt=to)
        with app.factory() as session:
            assert len(session.scalars(select(Case.id)).all()) == 1, "an office's answer never opens a case"
            replies = [e.detail for e in session.scalars(select(Event).where(Event.action == "reply-received"))]
            assert [(r["side"], r["office"], r["sender"]) for r in replies] == \
                [("office", "dean-on-call", "dean@example.edu")] * 2
            assert all(r.case_id == alias for r in session.scalars(select(Event).where(
                Event.action == "reply-received")))
            # The quoted report does not page the chain again.
            assert len(session.scalars(select(Page.id)).all()) == pages_before
            assert len(session.scalars(select(Escalation.id)).all()) == escalations
        shown = cli(config, "--as", "Pat", "cases", "show", number)
        assert "reply from office dean-on-call" in shown and "We are on our way to the room" in shown
    finally:
        app.close()


def test_an_organisations_old_referral_template_still_works_and_cannot_smuggle_the_reporter(app: App,
                                                                                           tmp_path: Path) -> None:
    config, app = _installation(app)
    try:
        number = _harassment_case(app, config)
        office = tmp_path / "templates" / "office"
        office.mkdir(parents=True)
        template = office / "referral.txt.j2"
        # An override written for the old variables renders as before.
        template.write_text("Subject: [{{ case_number }}] Referral\n\n{{ triage_explanation }}\n"
                            "{% for item in evidence %}{{ item }}\n{% endfor %}{{ attachments_note }}\n")
        config.write_text(config.read_text().replace('templates_dir = ""', f'templates_dir = "{tmp_path / "templates"}"', 1))
        assert "queued referral" in cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--yes")
        assert "message from offender@example.net" in _decoded(_referrals(app, number)[0].content)
        # A careless override that hard-codes the reporter is stopped by the leak guard.
        template.write_text("Subject: Referral\n\nReported by kim.park@example.edu\n")
        refused = cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--update", "--yes", ok=False)
        assert "would reveal the reporter" in refused and len(_referrals(app, number)) == 1
    finally:
        app.close()


def test_an_anonymous_reporters_referral_has_their_words_never_their_identity_until_consent(app: App) -> None:
    config = app.settings.base_dir / "stopit.toml"
    config.write_text(config.read_text() + '\n[[staff]]\nname = "Pat"\nroles = ["staff"]\n')  # no reveal role
    config, app = _installation(app)
    try:
        ingest(app, report(reporter=KIM, name="Kim Park", subject="Anonymous: Fwd: hey",
                           wrapper="Kim here. He sends sexual messages every night and says he knows my dorm."))
        with app.factory() as session:
            number = session.scalars(select(Case.number)).one()
        cli(config, "--as", "Pat", "cases", "classify", number, "--category", "sexual-harassment", "--reason",
            "sexual messages every night")
        cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--yes")
        text = _decoded(_referrals(app, number)[0].content)
        assert "He sends sexual messages every night and says he knows my dorm." in text
        assert not re.search(r"\bkim\b|kim\.park|park", text.lower()) and "identity withheld" in text
        cli(config, "--as", "Pat", "cases", "consent", number, "--reason", "Kim agreed by reply on 30 Nov")
        # The reporter agreed to tell the office, not every staff member: the preview keeps them sealed.
        declined = cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--with-identity", ok=False)
        assert "UPDATED" in declined and "kim.park" not in declined.lower() and "sealed identity" in declined
        with app.factory() as session:  # neither the withheld referral nor the preview disclosed anyone
            assert not session.scalars(select(Event).where(Event.action == "identity-revealed")).all()
        cli(config, "--as", "Pat", "cases", "refer", number, "title-ix", "--with-identity", "--yes")
        assert "Kim Park <kim.park@example.edu>" in _decoded(_referrals(app, number)[1].content)
        # Sending it went through the identity gate by consent (no reveal role asked), audited like every reveal.
        refused = cli(config, "--as", "Pat", "reveal", number, "--reason", "who is it, please", ok=False)
        assert "reveal" in refused and "kim" not in refused.lower()
        with app.factory() as session:
            (audit,) = session.scalars(select(Event).where(Event.action == "identity-revealed")).all()
            consent = session.scalars(select(Event).where(Event.action == "identity-consent-recorded")).one()
            case_id = session.scalars(select(Case.id).where(Case.number == number)).one()
        assert (audit.actor, audit.case_id, audit.automatic) == ("Pat", case_id, False)
        assert audit.detail["disclosed_to"] == "title-ix" and audit.detail["by_consent"] is True
        assert (audit.detail["consent_event_id"], audit.detail["consent_recorded_by"]) == (consent.id, "Pat")
        assert audit.detail["reason"] == "Kim agreed by reply on 30 Nov" and "kim.park" not in json.dumps(audit.detail)
    finally:
        app.close()
