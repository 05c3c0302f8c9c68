"""From a stored complaint to a case: classification, evidence, joining, idempotency."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import func, select

from stopit_mail.app import App
from stopit_mail.cases import queries
from stopit_mail.cases.queries import case_detail
from stopit_mail.ingest.rawstore import Envelope
from stopit_mail.ingest.service import IngestSummary, ingest_one, ingest_paths
from stopit_mail.models import Case, Event, MessageKind, RawMessage, RawStatus
from stopit_mail.sealing import open_bytes

from conftest import EXAMPLES


def ingest_bytes(app: App, content: bytes, **envelope: object) -> IngestSummary:
    summary = IngestSummary()
    ingest_one(app, content, Envelope(source=str(envelope.pop("source", "file")), **envelope), summary)  # type: ignore[arg-type]
    return summary


def only_case(app: App) -> dict:
    with app.factory() as session:
        numbers = session.scalars(select(Case.number)).all()
        assert len(numbers) == 1, numbers
        return queries.case_detail(session, numbers[0])


def test_attached_original_becomes_full_evidence_with_parties(app: App) -> None:
    summary = ingest_paths(app, [str(EXAMPLES / "01-attached-original.eml")])
    assert (summary.stored, summary.processed, summary.quarantined) == (1, 1, 0)
    case = only_case(app)
    assert case["number"].startswith("SI-") and case["status"] == "triaged"
    full = [e for e in case["evidence"] if e["completeness"] == "full"]
    assert len(full) == 1
    assert full[0]["from"]["address"] == "shadow.fox@freemail.example"
    assert full[0]["subject"] == "you'll regret this"
    roles = {(p["role"], p["address"]) for p in case["parties"]}
    assert ("reporter", "jordan.lee@student.example.edu") in roles
    assert ("alleged-sender", "shadow.fox@freemail.example") in roles
    assert "attached the original" in case["reports"][0]["wrapper_text"]
    assert [e["action"] for e in case["timeline"]] == ["case-opened", "report-filed", "triaged",
                                                       "acknowledgement-queued"]


def test_inline_forward_is_summary_evidence_with_recipients(app: App) -> None:
    ingest_paths(app, [str(EXAMPLES / "02-inline-forward.eml")])
    case = only_case(app)
    (item,) = [e for e in case["evidence"] if e["kind"] == "inline-forward"]
    assert item["completeness"] == "summary"
    assert item["from"] == {"name": "Kai", "address": "kai.anon@webmail.example"}
    assert item["subject"] == "pictures"
    roles = {(p["role"], p["address"]) for p in case["parties"]}
    assert ("recipient", "alex.chen@example.org") in roles
    assert case["reports"][0]["wrapper_text"].startswith("Please help")


def test_pasted_headers_and_screenshot(app: App) -> None:
    ingest_paths(app, [str(EXAMPLES / "03-pasted-headers.eml")])
    case = only_case(app)
    kinds = {e["kind"]: e for e in case["evidence"]}
    assert kinds["pasted-headers"]["completeness"] == "headers"
    assert kinds["pasted-headers"]["from"]["address"] == "throwaway.acct2026@gmail.example"
    shot = kinds["attachment"]
    assert shot["completeness"] == "file" and shot["content_type"] == "image/png"
    assert shot["filename"] == "screenshot.png" and len(shot["sha256"]) == 64


def test_ingesting_twice_opens_no_second_case(app: App) -> None:
    first = ingest_paths(app, [str(EXAMPLES)])
    second = ingest_paths(app, [str(EXAMPLES)])
    assert first.stored == 3 and first.processed == 3
    assert (second.stored, second.duplicates, second.processed) == (0, 3, 0)
    with app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 3


def _forward_of(original: bytes, reporter: str, note: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = reporter
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "Fwd: look at this"
    msg.set_content(note)
    msg.add_attachment(original, maintype="message", subtype="rfc822")
    return msg.as_bytes()


def test_two_reporters_of_the_same_message_share_one_case(app: App) -> None:
    original = (EXAMPLES / "01-attached-original.eml").read_bytes().split(b"message/rfc822")[1]
    original = original.split(b"\r\n\r\n", 1)[1].split(b"--outer-boundary-1--")[0]
    ingest_bytes(app, _forward_of(original, "a@example.edu", "I got this"))
    ingest_bytes(app, _forward_of(original, "b@example.edu", "me too"))
    case = only_case(app)
    assert len(case["reports"]) == 2
    actions = [e["action"] for e in case["timeline"]]
    assert [a for a in actions if a.startswith(("case-", "report-"))] == ["case-opened", "report-filed", "report-joined"]
    assert actions.count("acknowledgement-queued") == 2
    reporters = {p["address"] for p in case["parties"] if p["role"] == "reporter"}
    assert reporters == {"a@example.edu", "b@example.edu"}


def test_reply_on_case_alias_joins_the_timeline(app: App) -> None:
    ingest_paths(app, [str(EXAMPLES / "01-attached-original.eml")])
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        code, number = case.reporter_code, case.number
    reply = EmailMessage()
    reply["From"] = "jordan.lee@student.example.edu"
    reply["To"] = f"stopit+{code}@example.edu"
    reply["Subject"] = "more messages today"
    reply.set_content("It happened again this morning.")
    ingest_bytes(app, reply.as_bytes(), rcpt_to=[f"stopit+{code}@example.edu"])
    tagged = EmailMessage()
    tagged["From"] = "jordan.lee@student.example.edu"
    tagged["To"] = "stopit@example.edu"
    tagged["Subject"] = f"Re: [{number}] acknowledgement"
    tagged.set_content("Thank you.")
    ingest_bytes(app, tagged.as_bytes())
    with app.factory() as session:
        numbers = session.scalars(select(Case.number).order_by(Case.id)).all()
    # The alias files the reply; the case number in a subject is only a hint: a new report.
    assert len(numbers) == 2
    detail = case_detail_of(app, number)
    replies = [e for e in detail["timeline"] if e["action"] == "reply-received"]
    assert [r["detail"]["text"].strip() for r in replies] == ["It happened again this morning."]
    assert len(detail["other_messages"]) == 1
    assert [e["action"] for e in detail["timeline"]].count("case-number-mentioned") == 1


def case_detail_of(app: App, number: str) -> dict:
    with app.factory() as session:
        return case_detail(session, number)


def test_automatic_messages_and_bounces_open_no_case(app: App) -> None:
    auto = EmailMessage()
    auto["From"] = "someone@example.org"
    auto["To"] = "stopit@example.edu"
    auto["Subject"] = "Out of office"
    auto["Auto-Submitted"] = "auto-replied"
    auto.set_content("I am away.")
    ingest_bytes(app, auto.as_bytes())
    listmail = EmailMessage()
    listmail["From"] = "list@example.org"
    listmail["List-Id"] = "<news.example.org>"
    listmail.set_content("newsletter")
    ingest_bytes(app, listmail.as_bytes())
    dsn = (Path(__file__).parent / "fixtures" / "mail" / "dsn-rfc3464.eml").read_bytes()
    ingest_bytes(app, dsn, mail_from="")
    with app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 0
        kinds = session.scalars(select(RawMessage.kind).order_by(RawMessage.id)).all()
        assert kinds == [MessageKind.AUTO_REPLY, MessageKind.AUTO_REPLY, MessageKind.BOUNCE]
        actions = session.scalars(select(Event.action).order_by(Event.id)).all()
        assert actions == ["automatic-set-aside", "automatic-set-aside", "bounce-received"]


def test_oversized_file_is_stored_then_quarantined_with_reason(app: App) -> None:
    app.settings.limits.max_message_bytes = 2048
    content = b"From: a@example.org\r\nSubject: big\r\n\r\n" + b"x" * 5000
    summary = ingest_bytes(app, content)
    assert (summary.stored, summary.quarantined) == (1, 1)
    with app.factory() as session:
        raw = session.scalars(select(RawMessage)).one()
        assert raw.status is RawStatus.QUARANTINED
        assert raw.reason == "message is 5037 bytes, above limits.max_message_bytes (2048)"
        assert open_bytes(app.settings, raw.content) == content  # set aside unprocessed: sealed as stored


def test_a_follow_up_reply_that_reads_as_an_emergency_escalates(app: App) -> None:
    from stopit_mail.models import Escalation

    ingest_paths(app, [str(EXAMPLES / "02-inline-forward.eml")])
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        code = case.reporter_code
        assert case.urgency != "emergency"
    reply = EmailMessage()
    reply["From"] = "sam.rivera@example.org"
    reply["To"] = f"stopit+{code}@example.edu"
    reply["Subject"] = "Re: your report"
    reply.set_content("I can't take it anymore, I'm going to kill myself tonight.")
    ingest_bytes(app, reply.as_bytes(), rcpt_to=[f"stopit+{code}@example.edu"])
    with app.factory() as session:
        case = session.scalars(select(Case)).one()
        assert case.urgency == "emergency" and "self-harm" in case.categories
        assert session.scalars(select(Escalation).where(Escalation.case_id == case.id)).one() is not None
        actions = session.scalars(select(Event.action).where(Event.case_id == case.id)).all()
        assert "reply-received" in actions
        # No chain is configured in the default installation: the emergency is loudly "impossible",
        # never silent (an alert goes to the mailbox).
        assert "escalation-impossible" in actions


def test_whole_pipeline_on_each_database(any_app: App) -> None:
    """Case numbering, joining and the outbox behave the same on SQLite and PostgreSQL."""
    first = ingest_paths(any_app, [str(EXAMPLES)])
    again = ingest_paths(any_app, [str(EXAMPLES)])
    assert (first.processed, again.stored, again.processed) == (3, 0, 0)
    with any_app.factory() as session:
        numbers = sorted(session.scalars(select(Case.number)))
        assert [n[-4:] for n in numbers] == ["0001", "0002", "0003"]
        from stopit_mail.models import OutboxMessage

        assert len(session.scalars(select(OutboxMessage)).all()) == 3


def test_an_emergency_acknowledgement_says_call_now_first(app: App) -> None:
    from stopit_mail.models import OutboxMessage

    msg = EmailMessage()
    msg["From"] = "worried.friend@example.edu"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = "my friend"
    msg.set_content("My friend said she wants to kill herself tonight and she has pills saved up.")
    ingest_bytes(app, msg.as_bytes())
    with app.factory() as session:
        ack = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "acknowledgement")).one().content.decode()
    body = ack.split("\r\n\r\n", 1)[1]
    assert body.lstrip().startswith("IF YOU OR ANYONE ELSE IS IN DANGER RIGHT NOW, CALL 911 NOW.")
    assert "working day" not in body
