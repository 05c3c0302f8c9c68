"""A reporter whose name shares a word with what we write ourselves is still referred and noticed.

Red team (non-negotiables 2 and 4). The leak guard looks for each word of a reporter's name on
its own, everywhere in the composed mail. Every referral says "stopit refers case ...", so
Jordan Case's emergency was never referred (the automatic referral was refused as a leak, the
office never heard); every notice of Brown University names the university, so no notice or
referral could go out for any reporter called Brown. Our own text (the built-in template, our
organisation's and offices' names) no longer counts as a trace of a shared word; the reporter's
other words, their whole name, their address and every word in attached evidence still do.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import select
from test_referrals import _installation, _referrals

from stopit_mail.app import App
from stopit_mail.cases.notices import NoticeError, prepare_notice
from stopit_mail.cases.referrals import prepare_referral
from stopit_mail.models import Case, Event, OutboxMessage
from stopit_mail.outbound.compose import Attachment, Draft, compose
from stopit_mail.outbound.redact import Traces, find_leaks

from casework_helpers import ingest, latest_case, offending_message, open_case, report


def _shown(content: bytes) -> str:
    message = BytesParser(policy=policy.default).parsebytes(content)
    texts = [str(v) for _k, v in message.items()]
    texts += [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]  # type: ignore[attr-defined]
    return "\n".join(texts)


def emergency_referral(app: App, sender: str, words: str, original: bytes | None = None) -> OutboxMessage:
    """Report a friend's overdose from `sender`; the automatic referral to the dean on call."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "please help"
    msg.set_content("My friend took pills tonight and says she wants to kill herself. "
                    f"She is in Baker House room 312 right now. {words}")
    if original is not None:
        msg.add_attachment(original, maintype="message", subtype="rfc822")
    ingest(app, msg.as_bytes())
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        assert case.urgency == "emergency"
        assert not session.scalars(select(Event).where(Event.action == "side-step-failed")).all()
    (referral,) = _referrals(app, case.number)
    assert referral.recipients == ["dean@example.edu"]
    return referral


def test_jordan_cases_emergency_is_referred_automatically_without_naming_them(app: App) -> None:
    _config, app = _installation(app, chains=True)
    try:
        referral = emergency_referral(app, "Jordan Case <jordan.case@example.edu>", "This is Jordan Case, call me.")
        text = _shown(referral.content)
        assert "stopit refers case" in text and "took pills tonight" in text
        # Their words are scrubbed: both of their name's words, wherever the report says them.
        assert "This is [reporter] [reporter], call me." in text
        assert "jordan" not in text.lower() and b"jordan" not in referral.content.lower()
    finally:
        app.close()


def _brown(app: App) -> Path:
    config = app.settings.base_dir / "stopit.toml"
    config.write_text(config.read_text().replace('name = "Example University"', 'name = "Brown University"', 1))
    return config


def test_a_reporter_called_brown_at_brown_university_gets_a_notice_and_a_referral(app: App) -> None:
    _brown(app)
    _config, app = _installation(app)
    try:
        assert app.settings.organisations[0].name == "Brown University"
        ingest(app, report(reporter="sam.brown@example.edu", name="Sam Brown",
                           wrapper="He keeps sending me sexual messages, Sam Brown (brown.s@example.edu)",
                           original=offending_message(to="sam.brown@example.edu",
                                                      body="Hey Brown, you know what I want.")))
        with open_case(app) as (_session, case):
            notice = prepare_notice(app.settings, case).preview()
            assert "Brown University" in notice and "sam" not in notice.lower()
            case.categories = ["sexual-harassment"]
            referral = prepare_referral(app.settings, case, "title-ix")
            text = _shown(compose(referral.draft, "<x@example.edu>"))
            assert "Brown University stopit" in text and "Hey [reporter], you know what I want." in text
            assert "sam" not in text.lower() and "brown.s" not in text.lower()
            (attached,) = referral.draft.attachments
            assert b"brown" not in attached.content.lower()
    finally:
        app.close()


def test_the_whole_name_or_another_word_of_it_is_still_refused_in_our_own_text(app: App) -> None:
    config, app = _installation(app)
    try:
        ingest(app, report(reporter="jordan.case@example.edu", name="Jordan Case"))
        with open_case(app) as (_session, case):
            case.categories = ["sexual-harassment"]
            assert prepare_referral(app.settings, case, "title-ix", note="Please handle this case today.")
            for note in ("Jordan Case asked us to call.", "Jordan asked us to call."):
                with pytest.raises(NoticeError, match="would reveal the reporter"):
                    prepare_referral(app.settings, case, "title-ix", note=note)
        # An organisation's own template allows no word of its own: it may name someone.
        overrides = app.settings.base_dir / "t" / "sender"
        overrides.mkdir(parents=True)
        (overrides / "please-stop.txt.j2").write_text("Subject: x\n\nJordan told us about you\n")
        app.settings.organisations[0].templates_dir = str(app.settings.base_dir / "t")
        with pytest.raises(NoticeError, match="would reveal the reporter"):
            prepare_notice(app.settings, latest_case(app))
        assert config.exists()
    finally:
        app.close()


def test_a_shared_word_in_attached_evidence_is_still_a_leak() -> None:
    traces = Traces()
    traces.add_name("Jordan Case")
    draft = Draft(from_address="stopit@example.edu", to=["dean@example.edu"], subject="Referral: case 1",
                  body="stopit refers case 1 to you.\n",
                  attachments=[Attachment("evidence.txt", "text/plain", b"see you later, Case")])
    own = frozenset({"case", "refers", "stopit"})
    assert find_leaks(compose(draft, "<x@example.edu>"), traces, own) == ["text/plain"]
    without = compose(Draft(from_address="stopit@example.edu", to=["dean@example.edu"], subject="case 1",
                            body="stopit refers case 1 to you.\n"), "<x@example.edu>")
    assert find_leaks(without, traces, own) == []
    assert find_leaks(without, traces) != []
