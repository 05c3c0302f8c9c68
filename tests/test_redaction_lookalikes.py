"""A reporter's name spelled with lookalike letters of another script never reaches an office.

Red team (non-negotiable 2). A harasser who names the reporter to others ("everyone, this is
Kim Park") can write the name with Cyrillic or Greek letters that look Latin: "Kіm Pаrk" with a
Cyrillic і and а, "ΚΙΜ ΡΑRΚ" in Greek capitals. The office reads the name; redaction and the
leak guard compared code points and saw another word. The checker here reads the output with
its own table of the lookalikes these tests use, independent of the code under test.
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.cases.referrals import prepare_referral
from stopit_mail.config import Office
from stopit_mail.models import Case
from stopit_mail.outbound.compose import Attachment, Draft, compose
from stopit_mail.outbound.redact import Traces, find_leaks

from casework_helpers import ingest, report

# Cyrillic, Greek and Armenian letters a reader takes for Latin ones, as the tests write them.
LOOKALIKE = {"а": "a", "і": "i", "р": "p", "К": "K", "к": "k", "Р": "P", "А": "A", "М": "M",
             "Κ": "K", "Ι": "I", "Μ": "M", "Ρ": "P", "Α": "A", "ο": "o", "օ": "o"}
SPELLINGS = {
    "cyrillic letters mixed in": "Hi Kіm Pаrk, everyone knows.",
    "greek capitals": "ΚΙΜ ΡΑRΚ, everyone knows.",
    "cyrillic capitals": "КIМ РАRК, everyone knows.",
    "an address": "write to kіm.pаrk@example.edu, everyone knows.",
}


def _read(text: str) -> str:
    return "".join(LOOKALIKE.get(ch, ch) for ch in text).casefold()


def _evidence(body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Some One <offender@example.net>"
    msg["To"] = "class-11b@example.org"
    msg["Subject"] = body[:20]
    msg["Date"] = "Mon, 16 Nov 2026 04:41:03 +0000"
    msg.set_content(body)
    msg.add_alternative(f"<p>{body}</p>", subtype="html")
    return msg.as_bytes()


@pytest.mark.parametrize("how", list(SPELLINGS))
def test_a_name_in_lookalike_letters_is_scrubbed_from_a_referral(app: App, how: str) -> None:
    app.settings.organisations[0].offices = [Office(name="title-ix", title="Title IX Office",
                                                    addresses=["titleix@example.edu"], categories=["harassment"])]
    ingest(app, report(reporter="kim.park@example.edu", name="Kim Park", wrapper="He sent this to the class.",
                       original=_evidence(SPELLINGS[how])))
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        out = compose(prepare_referral(app.settings, case, "title-ix").draft, "<t@stopit>")
    message = BytesParser(policy=policy.default).parsebytes(out)
    shown = _read("\n".join(str(v) for part in message.walk() for _k, v in part.items()) + "\n".join(
        part.get_content() for part in message.walk() if part.get_content_maintype() == "text"))  # type: ignore[attr-defined]
    attached = [BytesParser(policy=policy.default).parsebytes(a.get_payload(decode=True))  # type: ignore[arg-type]
                for a in message.walk() if (a.get_filename() or "").endswith(".eml")]
    shown += "".join(_read(p.get_content()) for m in attached for p in m.walk()  # type: ignore[attr-defined]
                     if p.get_content_maintype() == "text")
    assert "everyone knows" in shown
    for trace in ("kim", "park"):
        assert not re.search(rf"(?<![^\W_]){trace}(?![^\W_])", shown), (how, trace)


@pytest.mark.parametrize("how", list(SPELLINGS))
def test_the_guard_refuses_a_name_in_lookalike_letters(how: str) -> None:
    traces = Traces()
    traces.add_name("Kim Park")
    traces.add_address("kim.park@example.edu")
    draft = Draft(from_address="stopit@example.edu", to=["titleix@example.edu"], subject="Referral",
                  body="See the attached evidence.\n",
                  attachments=[Attachment("note.txt", "text/plain", SPELLINGS[how].encode())])
    assert find_leaks(compose(draft, "<x@example.edu>"), traces)


def test_a_capital_i_lookalike_reads_as_i_and_other_scripts_stay_as_written() -> None:
    traces = Traces()
    traces.add_name("Irina Lill")
    assert traces.scrub("Ιrina and ІRINA came; Lіll too") == "[reporter] and [reporter] came; [reporter] too"
    assert traces.scrub("Привет, как дела? Καλημέρα") == "Привет, как дела? Καλημέρα"
