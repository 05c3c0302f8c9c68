"""A report that arrives as real mail pages no more than the same words as plain text.

Mail surrounds the reporter's words with machinery: greetings and sign-offs, the sender's name,
phone signatures, unsubscribe footers, "On ... wrote:" lines, Re:/Fwd: subjects, format=flowed line
wrapping, and forwarded messages. Only the machinery goes: a forwarded original is the evidence
(often the harassing message itself) and is still read. The reports and newsletters here are
written for these tests, not taken from the dev set or from tests/triage_dev.py's wrapping.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

import pytest
from bank_embeddings import needs_bank_embeddings

from stopit_mail.cases.detect.bank import shipped_bank
from stopit_mail.cases.detect.detector import Detector, with_neighbours
from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder, shared_embedder
from stopit_mail.cases.detect.sentences import PART_BREAK, clean_text, report_sentences
from stopit_mail.cases.triage import compile_rules, load_rules
from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.extract.mime import unflow
from stopit_mail.processing.rules import report_text

RULES = compile_rules(load_rules())
RANK = {"emergency": 0, "possible-emergency": 1, "urgent": 2, "routine": 3}

NEWSLETTER = (
    "Dear parents and guardians,\n\nThe class photo day has been moved to Tuesday. Please hand in the signed "
    "form for the science centre visit by Friday. The gym is closed on Monday afternoon.\n\n"
    "To unsubscribe from this newsletter, click here.\n\nKind regards,\nMaria Lopez\nSchool Office"
)
REPORTS = (
    "a boy in my homeroom keeps calling me names and hiding my backpack, it has been going on since september.",
    "someone made a fake account with my sister's photos and is posting mean comments about her.",
)


def _forward(report: str, original: str, subject: str = "Re: Fwd: report") -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Parent <parent@example.org>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = subject
    msg.set_content(f"Hello,\n\n{report}\n\nThanks,\nJordan Smith\n\n---------- Forwarded message ---------\n"
                    "From: School Office <office@example.edu>\nDate: Mon, Nov 9, 2026 at 8:02 AM\n"
                    f"Subject: This week\nTo: <families@example.edu>\n\n{original}\n")
    return msg.as_bytes()


@pytest.fixture(scope="module")
def stand_in() -> Detector:
    embedder = StandInEmbedder()
    found = Detector(embedder, ModelStatus(True, embedder.name, "test stand-in"), bank=shipped_bank())
    found.index()
    return found


def _tier(detector: Detector, content: bytes) -> str:
    extraction = extract_evidence(content)
    return detector.assess(report_text(extraction), RULES, subject=extraction.subject).urgency


@pytest.mark.parametrize("report", REPORTS)
def test_a_forwarded_school_newsletter_does_not_raise_the_report_above_it(stand_in: Detector, report: str) -> None:
    plain = stand_in.assess(report, RULES).urgency
    assert RANK[_tier(stand_in, _forward(report, NEWSLETTER))] >= RANK[plain]


def test_the_forwarded_original_is_still_read_as_evidence() -> None:
    threat = "you better not come to school on friday or you will regret it"
    extraction = extract_evidence(_forward("my son got this last night, please help", threat))
    kept = [s.text for s in report_sentences(report_text(extraction), extraction.subject)]
    assert threat in kept and "my son got this last night, please help" in kept
    # The machinery around it is gone: greeting, sign-off, the sender's name, the header block; the
    # forwarded message's own subject stays, as part of the evidence.
    assert not {"Hello,", "Thanks,", "Jordan Smith"} & set(kept)
    assert "This week" in kept
    assert not any("office@example.edu" in s or s.startswith("From:") for s in kept)


def test_the_reporters_words_and_a_forwarded_message_are_never_read_as_one_pair() -> None:
    # The model also reads each sentence joined with the next; the last of the reporter's and the
    # first of a forwarded newsletter are not one thought. Within each message pairs stay.
    words = "she acts like she doesn't care. but she does."
    extracted = report_text(extract_evidence(_forward(words, NEWSLETTER)))
    pasted = (f"{words}\n\n-----Original Message-----\nFrom: Office <office@example.edu>\nSent: Monday, "
              f"November 9, 2026 8:02 AM\nTo: families@example.edu\nSubject: news\n\n{NEWSLETTER}")
    for text in (extracted, pasted):
        sentences = report_sentences(text)
        units, _ = with_neighbours(sentences, ["en"] * len(sentences))
        pairs = [u.text for u in units[len(sentences):]]
        assert words in pairs
        assert [p for p in pairs if "but she does" in p] == [words], pairs
        assert any("photo day" in p and "science centre" in p for p in pairs)


def test_the_subject_is_read_without_reply_and_forward_prefixes() -> None:
    found = report_sentences("", subject="RE: Fwd: AW: he has a gun in his car")
    assert [(s.text, s.field) for s in found] == [("he has a gun in his car", "subject")]


def test_format_flowed_lines_are_joined_as_the_writer_typed_them() -> None:
    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", "stopit@example.edu", "worried"
    msg.set_content("Hi,\n\nmy friend told me she has been saving her \nmom's pills and will take them \nall on "
                    "saturday night.\n\n> an older quoted \n> line\n-- \nSent from my phone\n", cte="quoted-printable")
    msg.set_param("format", "flowed")
    text = extract_evidence(msg.as_bytes()).wrapper_text
    assert "my friend told me she has been saving her mom's pills and will take them all on saturday night." in text
    assert "> an older quoted line" in text
    assert unflow("one \ntwo", delsp=True) == "onetwo"
    assert [s.text for s in report_sentences(text)] == [
        "my friend told me she has been saving her mom's pills and will take them all on saturday night."]


def test_greetings_of_every_language_are_machinery_but_the_words_after_them_are_not() -> None:
    greetings = ["السلام عليكم،", "سلام،", "Bonjou,", "お疲れさまです。", "नमस्ते,", "Kính gửi thầy cô,", "안녕하세요,",
                 "Hello po,", "Salaan,", "老师您好，", "Buongiorno,", "Witam,", "Привіт,", "尊敬的王老师："]
    # Greetings that also say goodbye stay: "ciao tutti" or "chào mọi người," may be a last message.
    words = ["hola ya me voy a matar", "hi i'm dying", "привет, я выпил все таблетки", "salam, I have a knife",
             "ciao tutti", "chào mọi người,", "cześć wszystkim", "salut tout le monde"]
    assert clean_text("\n".join(greetings + words)).split("\n") == words


def test_a_name_signed_under_a_closing_goes_but_what_a_writer_adds_after_thanks_stays() -> None:
    text = ("it happened again at lunch\nBest regards,\nMaria Lopez\nFront Office\nThanks\nHELP\n"
            "Thanks,\nplease hurry\nthank you\nshe has the pills now.\nThanks\nSorry\nThanks\nI Love You")
    assert clean_text(text).split("\n") == ["it happened again at lunch", "HELP", "please hurry",
                                            "she has the pills now.", "Sorry", "I Love You"]


def test_phone_signatures_list_footers_and_attributions_in_several_languages() -> None:
    text = ("they said they will jump him after the game\n"
            "Am Mo., 9. Nov. 2026 um 08:02 Uhr schrieb Stopit <stopit@example.edu>:\n"
            "В пн, 9 нояб. 2026 г. в 08:02, Stopit <stopit@example.edu>:\n"
            "and he wrote:\n"
            "Enviado desde mi iPhone\nmore machinery\n\n"
            "To stop receiving these emails, update your preferences here.\nSchool Office, 1 Main St\n")
    assert clean_text(text).split("\n") == ["they said they will jump him after the game", "and he wrote:"]


def test_a_writer_speaking_of_logging_off_for_good_is_never_taken_for_a_footer() -> None:
    # Teens write of suicide as unsubscribing or logging off; only a line about mail, a link or a
    # list is a footer.
    for line in ("seit wochen sagt sie dass sie sich abmelden will für immer", "i want to unsubscribe from life",
                 "she said she's going to unsubscribe from everything tonight"):
        assert clean_text(f"{line}\nshe isn't answering") == f"{line}\nshe isn't answering"


LOGISTICS = (
    # Dated school notices a parent forwards below a report (written for this test).
    NEWSLETTER,
    "Hello families,\n\nReminder: the signed permission form and the $8 fee for the farm visit are due back on "
    "Thursday. Swimming lessons start next Monday at 9:15.\n\nBest wishes,\nMr. Patel",
    "Estimadas familias:\n\nLa autorización para la salida al museo de ciencias se entrega el viernes. El lunes no "
    "hay clases.\n\nAtentamente,\nLa Dirección",
)


@needs_bank_embeddings
@pytest.mark.parametrize("original", LOGISTICS)
def test_with_the_real_model_a_forwarded_dated_notice_does_not_raise_the_report(original: str) -> None:
    embedder, status = shared_embedder()
    assert embedder is not None, status.detail
    detector = Detector(embedder, status)
    for report in REPORTS:
        plain = detector.assess(report, RULES).urgency
        assert RANK[_tier(detector, _forward(report, original))] >= RANK[plain], (report, original)


@needs_bank_embeddings
@pytest.mark.parametrize("framing", ["I got this overnight.", "This came in at 2am.", "My daughter got this last night."])
def test_with_the_real_model_a_line_saying_when_the_message_arrived_pages_nobody(framing: str) -> None:
    """How a reporter introduces what they forward is no emergency: "I got this overnight." sat 0.89
    from "tonight's the night, goodbye" and paged the whole chain for the README's third example."""
    embedder, status = shared_embedder()
    assert embedder is not None, status.detail
    detector = Detector(embedder, status)
    assert RANK[detector.assess(framing, RULES).urgency] >= RANK["urgent"], framing


def test_a_sign_off_hides_nothing_of_the_next_message() -> None:
    """The reporter's phone signature ends *their* text; the forwarded message after the part break
    is evidence and must reach the model (a sign-off once hid every line after it)."""
    text = f"help me please\nSent from my iPhone\n{PART_BREAK}\nyou will regret this tomorrow\nbring the gun"
    kept = [s.text for s in report_sentences(text)]
    assert kept == ["help me please", "you will regret this tomorrow", "bring the gun"]
