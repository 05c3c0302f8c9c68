"""The acknowledgement speaks the reporter's language and helps with the client they used."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.cases.acknowledgement import report_language
from stopit_mail.cli import main
from stopit_mail.ingest.rawstore import Envelope
from stopit_mail.ingest.service import IngestSummary, ingest_one
from stopit_mail.models import Case, OutboxMessage

from conftest import EXAMPLES


def _send(app: App, body: str, subject: str = "help", headers: dict[str, str] | None = None,
          sender: str = "student@example.edu") -> str:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = subject
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return _ingest(app, msg.as_bytes())


def _ingest(app: App, content: bytes) -> str:
    ingest_one(app, content, Envelope("smtp", rcpt_to=["stopit@example.edu"]), IngestSummary())
    with app.factory() as session:
        content = session.scalars(select(OutboxMessage.content).where(OutboxMessage.kind == "acknowledgement")
                                  .order_by(OutboxMessage.id.desc())).first()
        assert content is not None
        return content.decode("utf-8")


def _body(ack: str) -> str:
    from email import message_from_string

    message = message_from_string(ack)
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


def test_language_of_short_and_long_texts() -> None:
    assert report_language("Mi compañero de clase me manda mensajes horribles todas las noches.") == "es"
    assert report_language("Someone in my class keeps sending me horrible messages every night.") == "en"
    assert report_language("ok") == "en"  # too short to tell: the default


def test_a_spanish_report_is_answered_in_spanish_and_the_case_shows_it(app: App) -> None:
    ack = _send(app, "Hola, un chico de mi clase me insulta todos los días por Instagram y ya no sé qué hacer.")
    body = _body(ack)
    assert "Gracias por escribir" in body and "Tu denuncia está registrada" in body
    assert "Thank you for writing" not in body
    with app.factory() as session:
        assert session.scalars(select(Case)).one().language == "es"


def test_first_hand_reports_are_not_asked_for_headers(app: App) -> None:
    body = _body(_send(app, "A boy in my class keeps shoving me in the hallway and calling me names."))
    assert "full headers" not in body and "Show original" not in body


def test_a_forward_without_headers_gets_its_own_clients_instructions(app: App) -> None:
    gmail = (EXAMPLES / "02-inline-forward.eml").read_bytes().replace(
        b"________________________________", b"---------- Forwarded message ---------")
    body = _body(_ingest(app, gmail))
    assert "You forwarded it from Gmail" in body and "Show original" in body
    assert "Thunderbird" not in body and "Yahoo" not in body
    outlook = (EXAMPLES / "02-inline-forward.eml").read_bytes().replace(
        b"Message-ID: <report-0002@example.org>", b"Message-ID: <report-9@example.org>\nX-Mailer: Microsoft Outlook 16.0")
    body = _body(_ingest(app, outlook.replace(b"keeps sending these", b"keeps on sending these")))
    assert "You forwarded it from Outlook" in body and "Show original" not in body


def test_an_organisations_own_acknowledgement_template_is_used(tmp_path: Path) -> None:
    from stopit_mail.app import open_app

    from conftest import make_installation

    config = make_installation(tmp_path).settings.base_dir / "stopit.toml"
    config.write_text(config.read_text().replace('templates_dir = ""', 'templates_dir = "ours"'))
    folder = tmp_path / "ours" / "reporter"
    folder.mkdir(parents=True)
    (folder / "acknowledgement.txt.j2").write_text(
        "Subject: [{{ case_number }}] Received by the Dean of Students\n\nOur own words for {{ organisation }}.\n")
    app = open_app(config)
    ack = _send(app, "Someone keeps posting rumours about me in the class group chat.")
    app.close()
    assert "Received by the Dean of Students" in ack and "Our own words" in _body(ack)


def test_staff_write_to_a_spanish_reporter_in_spanish(app: App, tmp_path: Path) -> None:
    _send(app, "Hola, alguien de mi instituto publica fotos mías sin permiso en un grupo de WhatsApp.")
    with app.factory() as session:
        number = session.scalars(select(Case)).one().number
    config = str(app.settings.base_dir / "stopit.toml")
    result = CliRunner().invoke(main, ["-c", config, "--as", "Pat", "reply", number, "-m", "¿Puedes enviarnos capturas?"])
    assert result.exit_code == 0, result.output
    with app.factory() as session:
        subject, content = session.execute(select(OutboxMessage.subject, OutboxMessage.content)
                                           .where(OutboxMessage.kind == "staff-reply")).one()
    assert "Un mensaje sobre tu denuncia" in subject and "Responde a este mensaje" in _body(content.decode())
