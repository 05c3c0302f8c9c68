"""Routing to offices by category and urgency, and intake for several organisations."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stopit_mail.app import App, init_installation, open_app
from stopit_mail.cases import referrals
from stopit_mail.cases.notices import NoticeError, PreparedMail
from stopit_mail.config import Office, Settings
from stopit_mail.models import Case, CaseStatus, Event, OutboxMessage

from casework_helpers import ingest


def _report(text: str, to: str = "stopit@example.edu") -> bytes:
    msg = EmailMessage()
    msg["From"] = "student@example.edu"
    msg["To"] = to
    msg["Subject"] = "please help"
    msg.set_content(text)
    return msg.as_bytes()


def test_auto_refer_and_suggestions_follow_the_configured_offices(app: App) -> None:
    app.settings.organisations[0].offices = [
        Office(name="dean-on-call", title="Dean on call", addresses=["dean@example.edu"],
               categories=["self-harm"], urgencies=["emergency"], auto_refer=True),
        Office(name="counselling", title="Counselling", addresses=["care@example.edu"], categories=["self-harm"]),
        Office(name="title-ix", title="Title IX", addresses=["tix@example.edu"], categories=["sexual-harassment"]),
    ]
    ingest(app, _report("My friend told me she wants to kill herself this weekend, she said goodbye to everyone."))
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        assert case.urgency == "emergency" and case.status is CaseStatus.REFERRED
        referral = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "referral")).one()
        assert referral.recipients == ["dean@example.edu"]
        assert b"student@example.edu" not in referral.content  # no consent, no identity
        suggested = session.scalars(select(Event).where(Event.action == "referral-suggested")).all()
        assert [e.detail["office"] for e in suggested] == ["counselling"]


def test_each_organisation_gets_its_own_cases(tmp_path: Path) -> None:
    config = init_installation(tmp_path, "North High", "stopit@north.example.edu")
    text = config.read_text().replace('dns = "online"', 'dns = "offline"')
    text = text.replace("[limits]", '''[[organisations]]
slug = "south"
name = "South High"
mailboxes = ["stopit@south.example.edu"]
case_prefix = "SH"

[limits]''')
    config.write_text(text)
    app = open_app(config)
    ingest(app, _report("someone keeps posting mean things about me", to="stopit@south.example.edu"),
           rcpt="stopit@south.example.edu")
    ingest(app, _report("someone keeps posting mean things about me too", to="stopit@north.example.edu"),
           rcpt="stopit@north.example.edu")
    with app.factory() as session:
        cases = {c.organisation: c.number for c in session.scalars(select(Case))}
        senders = {o.content.split(b"\r\nTo:")[0].split(b"@")[-1] for o in session.scalars(select(OutboxMessage))}
    assert cases["south"].startswith("SH-") and cases["main"].startswith("SI-")
    # Each acknowledgement comes from its own organisation's case alias.
    assert senders == {b"south.example.edu>", b"north.example.edu>"}
    app.close()


def test_one_offices_failed_referral_does_not_stop_or_undo_the_others(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Automatic referrals go office by office: the first office's referral failing (here its
    rendering raises, as a broken template or a refusal would) is recorded on the case, and the
    dean on call after it is still referred; before, the whole routing step was rolled back."""
    app.settings.organisations[0].offices = [
        Office(name="police", title="Police liaison", addresses=["police@example.edu"],
               categories=["self-harm"], urgencies=["emergency"], auto_refer=True),
        Office(name="dean-on-call", title="Dean on call", addresses=["dean@example.edu"],
               categories=["self-harm"], urgencies=["emergency"], auto_refer=True),
    ]
    real = referrals.prepare_referral

    def failing_for_police(settings: Settings, case: Case, office_name: str, *args: Any, **kwargs: Any) -> PreparedMail:
        if office_name == "police":
            raise NoticeError("the police office's template cannot be rendered")
        return real(settings, case, office_name, *args, **kwargs)

    monkeypatch.setattr(referrals, "prepare_referral", failing_for_police)
    ingest(app, _report("My friend told me she wants to kill herself this weekend, she said goodbye to everyone."))
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        assert case.urgency == "emergency" and case.status is CaseStatus.REFERRED
        sent = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "referral")).all()
        assert [o.recipients for o in sent] == [["dean@example.edu"]]
        failed = session.scalars(select(Event).where(Event.action == "referral-failed")).all()
        assert [e.detail["office"] for e in failed] == ["police"]
        assert "template cannot be rendered" in failed[0].detail["error"]
        assert not session.scalars(select(Event).where(Event.action == "side-step-failed")).all()
