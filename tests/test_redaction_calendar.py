"""A reporter named in a folded calendar invitation or contact card never reaches an office.

Red team (non-negotiable 2). Harassers send calendar invitations (an abusive title, a meeting
"you can't refuse"); the invitation names its attendee, the reporter, in lines that iCalendar
folds every 75 octets wherever that falls: "CN=Kim Pa" CRLF " rk". Redaction matched the
folded text, so the office's calendar client, which unfolds, showed the reporter's name and
address in the referral's attached evidence. Calendar entries and contact cards are unfolded
before they are scrubbed, and the leak guard reads them unfolded and quoted-printable decoded.
"""

from __future__ import annotations

import quopri
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from test_notices import _with_office

from stopit_mail.app import App
from stopit_mail.cases.referrals import prepare_referral
from stopit_mail.outbound.compose import Attachment, Draft, compose
from stopit_mail.outbound.redact import Traces, find_leaks

from casework_helpers import ingest, open_case

# Folded every 75 octets, as Google Calendar writes it; here the folds fall inside the name and the address.
ATTENDEE = ("ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;CN=Kim Pa\r\n"
            " rk;X-NUM-GUESTS=0:mailto:kim.p\r\n ark@example.edu")
CALENDAR = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nMETHOD:REQUEST\r\n"
            "BEGIN:VEVENT\r\nDTSTART:20261120T150000Z\r\nDTEND:20261120T160000Z\r\nSUMMARY:we need to talk. alone.\r\n"
            f"ORGANIZER;CN=Alex:mailto:offender@example.net\r\n{ATTENDEE}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def _shown(text: str) -> str:
    """What a calendar client reads: content lines unfolded."""
    return re.sub(r"\r?\n[ \t]", "", text).lower()


def test_an_invitation_naming_the_reporter_is_redacted_as_a_calendar_reads_it(app: App) -> None:
    _with_office(app)
    invitation = EmailMessage()
    invitation["From"] = "Alex <offender@example.net>"
    invitation["To"] = "kim.park@example.edu"
    invitation["Subject"] = "Invitation: we need to talk. alone."
    invitation["Date"] = "Mon, 16 Nov 2026 04:41:03 +0000"
    invitation.set_content("You have been invited.")
    invitation.add_alternative(CALENDAR.encode(), maintype="text", subtype="calendar", params={"method": "REQUEST"})
    report = EmailMessage()
    report["From"] = "Kim Park <kim.park@example.edu>"
    report["To"] = "stopit@example.edu"
    report["Subject"] = "Fwd: Invitation"
    report.set_content("He keeps sending me these.")
    report.add_attachment(invitation.as_bytes(), maintype="message", subtype="rfc822")
    ingest(app, report.as_bytes())
    with open_case(app) as (_session, case):
        case.categories = ["sexual-harassment"]
        referral = prepare_referral(app.settings, case, "title-ix")
    (evidence,) = referral.draft.attachments
    inner = BytesParser(policy=policy.default).parsebytes(evidence.content)
    (calendar,) = [p for p in inner.walk() if p.get_content_type() == "text/calendar"]
    shown = _shown(calendar.get_content())  # type: ignore[attr-defined]
    assert "summary:we need to talk. alone." in shown and "mailto:offender@example.net" in shown
    assert "kim" not in shown and "park" not in shown and "[reporter]" in shown


def test_the_guard_reads_a_card_unfolded_and_decoded() -> None:
    traces = Traces()
    traces.add_name("Åsa Öberg")
    cards = {"folded": "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Åsa Öb\r\n erg\r\nEND:VCARD\r\n",
             "quoted-printable": "BEGIN:VCARD\r\nVERSION:2.1\r\nN;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:=C3=96=\r\n"
                                 "berg;=C3=85sa\r\nEND:VCARD\r\n"}
    for name, card in cards.items():
        draft = Draft(from_address="stopit@example.edu", to=["titleix@example.edu"], subject="Referral",
                      body="See the attached card.\n", attachments=[Attachment("card.vcf", "text/vcard", card.encode())])
        assert find_leaks(compose(draft, "<x@example.edu>"), traces), name


def _report_with_card(card: bytes, content_type: str = "text/x-vcard") -> bytes:
    """A harasser's message passing on the reporter's contact card, forwarded by the reporter."""
    harassment = EmailMessage()
    harassment["From"] = "Alex <offender@example.net>"
    harassment["To"] = "friends@example.net"
    harassment["Subject"] = "everyone, add her"
    harassment["Date"] = "Mon, 16 Nov 2026 04:41:03 +0000"
    harassment.set_content("Call her and tell her what you think of her.")
    maintype, _, subtype = content_type.partition("/")
    harassment.add_attachment(card, maintype=maintype, subtype=subtype, filename="contact.vcf")
    report = EmailMessage()
    report["From"] = "Åsa Öberg <asa.oberg@example.edu>"
    report["To"] = "stopit@example.edu"
    report["Subject"] = "Fwd: everyone, add her"
    report.set_content("He is sending my number around.")
    report.add_attachment(harassment.as_bytes(), maintype="message", subtype="rfc822")
    return report.as_bytes()


# vCard 2.1 as phones export it: quoted-printable values, a soft line break inside the surname.
CARD_21 = (b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=C3=96=\r\nberg;=C3=85sa;;;\r\n"
           b"FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=C3=85sa =C3=96berg\r\nTEL;CELL:+46701234567\r\n"
           b"NOTE;ENCODING=QUOTED-PRINTABLE:call after 9=0D=0A2 + 2 =3D 4\r\nEND:VCARD\r\n")


# A card labelled as plain text ("contact.vcf", text/plain) opens in a contacts app too.
@pytest.mark.parametrize("content_type", ["text/x-vcard", "text/plain"])
def test_a_quoted_printable_card_naming_the_reporter_is_scrubbed_and_the_referral_goes(app: App,
                                                                                       content_type: str) -> None:
    _with_office(app)
    ingest(app, _report_with_card(CARD_21, content_type))
    with open_case(app) as (_session, case):
        case.categories = ["sexual-harassment"]
        referral = prepare_referral(app.settings, case, "title-ix")
    (evidence,) = referral.draft.attachments
    inner = BytesParser(policy=policy.default).parsebytes(evidence.content)
    (card,) = [p for p in inner.walk() if p.get_filename() == "contact.vcf"]
    shown = _shown(quopri.decodestring(card.get_content().encode()).decode())  # type: ignore[attr-defined]
    assert "berg" not in shown and "sa" not in re.findall(r"\w+", shown), shown
    assert "[reporter]" in shown and "+46701234567" in shown and "call after 9\r\n2 + 2 = 4" in shown
