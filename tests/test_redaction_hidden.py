"""A reporter's name or address hidden in ways a mail client undoes never reaches an office.

Red team (non-negotiable 2). The offending message was written to the reporter, so it names
them; the referral's body quotes its text and attaches it redacted. What the office's mail
client shows joins what the bytes split: a zero-width space or soft hyphen inside a name, a name
split by an empty tag or a comment in HTML, an address entity-encoded in a mailto link, an
address percent-encoded in a link (as Microsoft 365 Safe Links name the mailbox in every
link). The checker here renders independently of the code under test: format characters
dropped, HTML shown with tags removed, markup unescaped, URLs decoded.
"""

from __future__ import annotations

import html
import re
import unicodedata
import urllib.parse
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

import pytest
from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.cases.referrals import prepare_referral
from stopit_mail.config import Office
from stopit_mail.extract.htmltext import html_to_text
from stopit_mail.models import Case
from stopit_mail.outbound.compose import compose
from stopit_mail.outbound.redact import Traces

from casework_helpers import ingest, report

KIM = "kim.park@example.edu"
HIDDEN = {
    "zero-width space": ("Hi Ki\u200bm Pa\u200brk, everyone knows.", None),
    "soft hyphen": ("Hi Ki\u00adm Pa\u00adrk, everyone knows.", None),
    "empty tag": ("everyone knows.", "<p>Hi Ki<b></b>m Pa<span></span>rk, everyone knows.</p>"),
    "comment": ("everyone knows.", "<p>Hi Ki<!-- x -->m Pa<!-- y -->rk, everyone knows.</p>"),
    "soft hyphen entity": ("everyone knows.", "<p>Hi Ki&shy;m Pa&shy;rk, everyone knows.</p>"),
    "entity mailto": ("everyone knows.", "<p><a href=\"mailto:&#107;im.p&#97;rk&#64;example.edu\">write</a> "
                                         "everyone knows.</p>"),
    "percent link": ("see https://bad.example/u?who=%6Bim%2Epark%40example.edu everyone knows.", None),
    # Microsoft 365 Safe Links rewrite every link in mail a mailbox receives, naming the mailbox.
    "safe links": ("see https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fbad.example%2F&data=05"
                   "%7C02%7Ckim.park%40example.edu%7C1a2b3c%7C0%7C0%7C638 everyone knows.", None),
}


def _shown(part: Message) -> list[str]:
    """What a mail client can show of one part, rendered here independently."""
    text = part.get_content()  # type: ignore[attr-defined]
    forms = [text]
    if part.get_content_subtype() == "html":
        forms += [html_to_text(re.sub(r"<!--.*?-->", "", text, flags=re.S)), html.unescape(text)]
    forms += [urllib.parse.unquote(f) for f in forms]
    return ["".join(c for c in f if unicodedata.category(c) != "Cf") for f in forms]


def _all_shown(message: Message) -> str:
    """Every header and text part, also of attached messages (message/rfc822 or an .eml file)."""
    texts = [str(v) for _k, v in message.items()]
    if message.get_content_type() == "message/rfc822":
        return "\n".join(texts + [_all_shown(inner) for inner in message.get_payload()])  # type: ignore[union-attr]
    if message.is_multipart():
        return "\n".join(texts + [_all_shown(child) for child in message.get_payload()])  # type: ignore[union-attr]
    if message.get_content_maintype() == "text":
        texts += _shown(message)
    elif (message.get_filename() or "").endswith(".eml"):
        texts.append(_all_shown(BytesParser(policy=policy.default).parsebytes(message.get_payload(decode=True))))  # type: ignore[arg-type]
    return "\n".join(texts).casefold()


def _original(plain: str, markup: str | None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Some One <offender@example.net>"
    msg["To"] = "someone@example.org"
    msg["Subject"] = "you"
    msg["Date"] = "Mon, 16 Nov 2026 04:41:03 +0000"
    msg["Message-ID"] = "<hidden-1@example.net>"
    msg.set_content(plain)
    if markup:
        msg.add_alternative(markup, subtype="html")
    return msg.as_bytes()


@pytest.mark.parametrize("how", list(HIDDEN))
def test_a_name_or_address_hidden_from_matching_but_shown_by_a_client_never_reaches_an_office(app: App, how: str) -> None:
    app.settings.organisations[0].offices = [Office(name="title-ix", title="Title IX Office",
                                                    addresses=["titleix@example.edu"], categories=["harassment"])]
    plain, markup = HIDDEN[how]
    ingest(app, report(reporter=KIM, name="Kim Park", wrapper="He keeps writing to me.",
                       original=_original(plain, markup)))
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        referral = prepare_referral(app.settings, case, "title-ix")
        shown = _all_shown(BytesParser(policy=policy.default).parsebytes(compose(referral.draft, "<t@stopit>")))
    assert "everyone knows" in shown  # the evidence itself reached the office
    for trace in ("kim", "park"):
        assert not re.search(rf"(?<![^\W_]){trace}(?![^\W_])", shown), (how, trace)



def test_the_reporters_signature_block_never_reaches_an_office(app: App) -> None:
    """Below "-- " a reporter's mail client signs for them: name, class, room, phone. The office
    reads their words, never that block (their name alone was scrubbed; the rest was not)."""
    app.settings.organisations[0].offices = [Office(name="title-ix", title="Title IX Office",
                                                    addresses=["titleix@example.edu"], categories=["harassment"])]
    wrapper = ("He keeps writing to me after school.\n\n-- \nKim Park\nGrade 11, homeroom 204B\n"
               "Mobile +1 555 0100\n")
    ingest(app, report(reporter=KIM, name="Kim Park", wrapper=wrapper,
                       original=_original("everyone knows.", None)))
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        shown = _all_shown(BytesParser(policy=policy.default).parsebytes(
            compose(prepare_referral(app.settings, case, "title-ix").draft, "<t@stopit>")))
    assert "he keeps writing to me after school." in shown
    assert "homeroom 204b" not in shown and "555 0100" not in shown


def test_a_signature_naming_the_organisation_does_not_block_the_referral(app: App) -> None:
    app.settings.organisations[0].offices = [Office(name="title-ix", title="Title IX Office",
                                                    addresses=["titleix@example.edu"], categories=["harassment"])]
    org = app.settings.organisations[0].name
    ingest(app, report(reporter=KIM, name="Kim Park", wrapper=f"He keeps writing to me.\n\n-- \nKim Park\n{org}\n",
                       original=_original("everyone knows.", None)))
    with app.factory() as session:
        draft = prepare_referral(app.settings, session.scalars(select(Case)).one(), "title-ix").draft
    assert "He keeps writing to me." in draft.body


def test_a_mailbox_only_the_delivery_headers_name_never_reaches_an_office(app: App) -> None:
    """The harasser Bcc'd the reporter's school mailbox: only Delivered-To, X-Original-To and a
    Received "for <...>" name it, and the reporter forwarded it from another address."""
    app.settings.organisations[0].offices = [Office(name="title-ix", title="Title IX Office",
                                                    addresses=["titleix@example.edu"], categories=["harassment"])]
    original = (b"Return-Path: <offender@example.net>\r\nDelivered-To: sq1234@school.example.edu\r\n"
                b"X-Original-To: sq1234@school.example.edu\r\n"
                b"Received: from mx.example.net (mx.example.net [198.51.100.7]) by mx.school.example.edu "
                b"with ESMTPS id 4F1; for <sq1234@school.example.edu>; Mon, 16 Nov 2026 04:41:05 +0000\r\n"
                b"From: Some One <offender@example.net>\r\nTo: undisclosed-recipients:;\r\nSubject: you\r\n"
                b"Date: Mon, 16 Nov 2026 04:41:03 +0000\r\nMessage-ID: <bcc-1@example.net>\r\n\r\neveryone knows.\r\n")
    ingest(app, report(reporter=KIM, name="Kim Park", wrapper="He keeps writing to me.", original=original))
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        out = compose(prepare_referral(app.settings, case, "title-ix").draft, "<t@stopit>")
    shown = _all_shown(BytesParser(policy=policy.default).parsebytes(out))
    assert "with esmtps id 4f1" in shown  # the attached evidence keeps its trace
    assert "sq1234" not in shown


def test_scrubbing_replaces_only_the_trace_and_keeps_the_rest_as_written() -> None:
    """A text whose folded form has another length (an invisible character, a ligature, ß) is
    scrubbed in place: what the office reads keeps its capitals, accents, emoji and joiners."""
    traces = Traces()
    traces.add_name("Zoë Ward")
    text = "Ça va, Zo\u200bë? 👨\u200d👩\u200d👧 Straße ﬁne WA\u00adRD سلام\u200cخوبی"
    assert traces.scrub(text) == "Ça va, [reporter]? 👨\u200d👩\u200d👧 Straße ﬁne [reporter] سلام\u200cخوبی"
