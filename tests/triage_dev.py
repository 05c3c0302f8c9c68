"""The labelled multilingual triage dev set, and the same reports wrapped as real mail.

The reports in ``tests/fixtures/triage/dev/`` measure the detector on text it was never built from
(see that folder's README). Reports arrive as email, not as clean strings: greetings, signatures,
legal disclaimers, HTML-only bodies, legacy charsets, forwards and quoted replies all surround the
words that matter. ``as_email`` wraps a report in one of those layouts, deterministically (the same
report and style always give the same bytes), so a benchmark or a test can feed the whole path.
Only reserved example domains and documentation IP addresses appear in the wrapping.
"""

from __future__ import annotations

import hashlib
import html
import json
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

DEV_DIR = Path(__file__).parent / "fixtures" / "triage" / "dev"
# A second set, written separately and never used to tune anything: it only measures (see its README).
HOLDOUT_DIR = Path(__file__).parent / "fixtures" / "triage" / "holdout"

TIERS = ("emergency", "possible-emergency", "urgent", "routine")
KINDS = frozenset({
    "overdose-taken", "note-written", "goodbye-giveaway", "plan", "self-harm-now", "algospeak",
    "threat-dated", "copycat-threat", "bomb-threat", "weapon-seen", "sextortion", "grooming",
    "veiled-threat", "hopeless", "hyperbole", "past-resolved", "schoolwork", "fiction-lyrics", "game",
    "slang", "quoted-insult", "sports", "bullying", "harassment", "cyberbullying", "sexual-harassment",
    "discrimination", "substance-use", "hazing", "misconduct", "threats-of-violence",
    "inappropriate-online-behaviour", "other",
})
HARD_NEGATIVE_KINDS = frozenset({
    "hyperbole", "past-resolved", "schoolwork", "fiction-lyrics", "game", "slang", "quoted-insult", "sports",
})
CATEGORIES = frozenset({
    "self-harm", "threats-of-violence", "threat-to-group", "weapons", "sexual-exploitation",
    "sexual-harassment", "harassment", "bullying", "cyberbullying", "discrimination",
    "inappropriate-online-behaviour", "substance-use", "hazing", "misconduct", "other",
})

STYLES = (
    "plain", "greeting", "disclaimer", "html", "alternative", "qp", "base64", "legacy",
    "gmail-forward", "outlook-forward", "forwarded-report", "quoted-reply", "flowed", "outlook-html",
)

# Charsets a mail client in that language still sends; used only when the report's text fits.
LEGACY_CHARSETS = {
    "zh": "gb18030", "ru": "koi8-r", "uk": "koi8-u", "ar": "windows-1256", "ko": "euc-kr",
    "es": "iso-8859-1", "fr": "iso-8859-15", "de": "iso-8859-1", "pt": "windows-1252",
    "ht": "iso-8859-1", "tl": "iso-8859-1", "so": "iso-8859-1", "en": "us-ascii",
    "vi": "windows-1258", "hi": "utf-8", "pl": "iso-8859-2", "tr": "iso-8859-9", "ja": "iso-2022-jp",
    "fa": "windows-1256", "ur": "windows-1256",
}


@dataclass(frozen=True)
class Phrases:
    """How a reporter in one language opens, closes, and introduces a forward."""

    greeting: str
    signoff: str
    forward_intro: str
    subject: str


PHRASES = {
    "en": Phrases("Hi,", "Thanks", "Forwarding this, it just came in.", "Report"),
    "es": Phrases("Hola,", "Gracias", "Les reenvío esto, me acaba de llegar.", "Reporte"),
    "zh": Phrases("老师您好，", "谢谢", "转发一下，刚收到的。", "举报"),
    "vi": Phrases("Chào thầy cô,", "Cảm ơn", "Em chuyển tiếp tin này, vừa nhận được.", "Báo cáo"),
    "ar": Phrases("السلام عليكم،", "شكرا", "أعيد إرسال هذه الرسالة، وصلتني الآن.", "بلاغ"),
    "tl": Phrases("Hello po,", "Salamat po", "Ipinapasa ko po ito, kakarating lang.", "Report"),
    "ru": Phrases("Здравствуйте,", "Спасибо", "Пересылаю, только что пришло.", "Сообщение"),
    "uk": Phrases("Доброго дня,", "Дякую", "Пересилаю, щойно прийшло.", "Повідомлення"),
    "pt": Phrases("Olá,", "Obrigado", "Estou encaminhando isto, acabou de chegar.", "Denúncia"),
    "fr": Phrases("Bonjour,", "Merci", "Je vous transfère ceci, je viens de le recevoir.", "Signalement"),
    "ht": Phrases("Bonjou,", "Mèsi", "M ap voye sa ba nou, li fèk rive.", "Rapò"),
    "ko": Phrases("안녕하세요,", "감사합니다", "방금 받은 내용 전달드립니다.", "신고"),
    "so": Phrases("Salaan,", "Mahadsanid", "Waxaan idiin soo gudbinayaa tan, hadda ayay timid.", "Warbixin"),
    "hi": Phrases("नमस्ते,", "धन्यवाद", "यह अभी आया है, आगे भेज रहा हूँ।", "शिकायत"),
    "de": Phrases("Hallo,", "Danke", "Leite das weiter, kam gerade rein.", "Meldung"),
    "ja": Phrases("お疲れさまです。", "よろしくお願いします", "今届いたものを転送します。", "報告"),
    "pl": Phrases("Dzień dobry,", "Dziękuję", "Przesyłam dalej, właśnie przyszło.", "Zgłoszenie"),
    "tr": Phrases("Merhaba,", "Teşekkürler", "Bunu iletiyorum, az önce geldi.", "Bildirim"),
    "fa": Phrases("سلام،", "ممنون", "این همین الان رسید، فوروارد می‌کنم.", "گزارش"),
    "ur": Phrases("السلام علیکم،", "شکریہ", "یہ ابھی آیا ہے، آگے بھیج رہا ہوں۔", "شکایت"),
}

DISCLAIMER = (
    "CONFIDENTIALITY NOTICE: This e-mail and any attachments are intended solely for the addressee(s) "
    "and may contain confidential or privileged information. If you are not the intended recipient, "
    "please notify the sender and delete this message. Example Unified School District, example.edu."
)
NEUTRAL_ORIGINAL = (
    "Dear families,\n\nPicture day is moved to Thursday. Please return the permission slip for the "
    "museum trip by Friday. The library will close early on Wednesday.\n\nBest regards,\nFront Office"
)
TIPLINE_QUESTION = (
    "Thank you for your report. Can you tell us anything more, such as a name, a place or a time?\n"
    "-- \nStopit tip line, Example School District"
)
WROTE = {
    "en": "On {date} Stopit <stopit@example.edu> wrote:",
    "es": "El {date}, Stopit <stopit@example.edu> escribió:",
    "fr": "Le {date}, Stopit <stopit@example.edu> a écrit :",
    "de": "Am {date} schrieb Stopit <stopit@example.edu>:",
    "pt": "Em {date}, Stopit <stopit@example.edu> escreveu:",
}
DOC_IPS = ("192.0.2.25", "198.51.100.17", "203.0.113.40", "2001:db8::25")
NAMES = ("Alex", "Sam", "Jordan", "Maria", "Nguyen", "Amina", "Li Wei", "Olena", "Jean", "Min-ji")


def load_dev_set(directory: Path = DEV_DIR) -> list[dict[str, Any]]:
    """Every report of every language file, in file order (languages sorted by code)."""
    reports: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            reports.extend(json.loads(line) for line in handle if line.strip())
    return reports


def style_for(report: dict[str, Any]) -> str:
    """The one style a benchmark uses for this report, spread evenly and stable across runs."""
    return STYLES[_pick(report["id"], "style", len(STYLES))]


def as_email(report: dict[str, Any], style: str) -> bytes:
    """Wrap a report as an RFC 5322 message in the given layout; same input, same bytes."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}")
    lang = report["lang"]
    phrases = PHRASES.get(lang, PHRASES["en"])
    text = report["text"]
    msg = EmailMessage(policy=SMTP)
    _headers(msg, report, phrases)
    if style == "plain":
        msg.set_content(text + "\n", cte="8bit" if not text.isascii() else "7bit")
    elif style == "greeting":
        name = NAMES[_pick(report["id"], "name", len(NAMES))]
        body = f"{phrases.greeting}\n\n{text}\n\n{phrases.signoff},\n{name}\n\n-- \nSent from my phone\n"
        msg.set_content(body, cte="quoted-printable")
    elif style == "disclaimer":
        msg.set_content(f"{text}\n\n{phrases.signoff}\n\n{DISCLAIMER}\n", cte="quoted-printable")
    elif style == "html":
        msg.set_content(_html(text, footer=DISCLAIMER), subtype="html", cte="base64")
    elif style == "alternative":
        msg.set_content(f"{phrases.greeting}\n\n{text}\n", cte="quoted-printable")
        msg.add_alternative(_html(f"{phrases.greeting}\n\n{text}"), subtype="html", cte="quoted-printable")
        msg.set_boundary("=_alt_" + _digest(report["id"], "boundary")[:24])
    elif style == "qp":
        msg.set_content(text + "\n", cte="quoted-printable")
    elif style == "base64":
        msg.set_content(text + "\n", cte="base64")
    elif style == "legacy":
        charset = _legacy_charset(lang, text)
        cte = "base64" if _pick(report["id"], "cte", 2) else "quoted-printable"
        msg.set_content(text + "\n", charset=charset, cte=cte)
    elif style == "gmail-forward":
        msg.set_content(f"{text}\n\n{_gmail_forward_header(report)}\n\n{NEUTRAL_ORIGINAL}\n", cte="quoted-printable")
    elif style == "outlook-forward":
        msg.set_content(f"{text}\n\n{_outlook_forward_header(report)}\n\n{NEUTRAL_ORIGINAL}\n", cte="base64")
    elif style == "forwarded-report":
        body = f"{phrases.forward_intro}\n\n{_forward_header_any(report)}\n\n{text}\n"
        msg.replace_header("Subject", f"Fwd: {phrases.subject}")
        msg.set_content(body, cte="quoted-printable")
    elif style == "flowed":
        msg.set_content(f"{phrases.greeting}\n\n{_flow(text)}\n\n{phrases.signoff}\n", cte="quoted-printable")
        msg.set_param("format", "flowed")
        msg.set_param("delsp", "no")
    elif style == "outlook-html":
        msg.set_content(f"{text}\n\n{_outlook_forward_header(report)}\n\n{NEUTRAL_ORIGINAL}\n", cte="quoted-printable")
        msg.add_alternative(_outlook_html(text, report), subtype="html", cte="quoted-printable")
        msg.set_boundary("=_NextPart_" + _digest(report["id"], "boundary")[:24])
    else:  # quoted-reply
        wrote = WROTE.get(lang, WROTE["en"]).format(date=_gmail_date(_when(report)))
        quoted = "\n".join("> " + line if line else ">" for line in TIPLINE_QUESTION.splitlines())
        msg.replace_header("Subject", f"Re: {phrases.subject}")
        msg.set_content(f"{text}\n\n{wrote}\n{quoted}\n", cte="quoted-printable")
    for part in msg.iter_parts():
        del part["MIME-Version"]  # the email package repeats it on each part; clients put it only on top
    return msg.as_bytes()


def _headers(msg: EmailMessage, report: dict[str, Any], phrases: Phrases) -> None:
    when = _when(report)
    ident = report["id"]
    ip = DOC_IPS[_pick(ident, "ip", len(DOC_IPS))]
    msg["Received"] = (
        f"from mail.example.org ([{ip}]) by mx.example.edu with ESMTPS id {_digest(ident, 'rcv')[:12]}; "
        + format_datetime(when)
    )
    msg["From"] = f"{NAMES[_pick(ident, 'name', len(NAMES))]} <reporter{_pick(ident, 'from', 900) + 100}@example.org>"
    msg["To"] = "stopit@example.edu"
    msg["Subject"] = phrases.subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<{_digest(ident, 'msgid')[:20]}@example.org>"


def _html(text: str, footer: str = "") -> str:
    paragraphs = "".join(f"<p>{html.escape(part)}</p>" for part in text.split("\n\n"))
    foot = f'<p style="font-size:8pt;color:#888">{html.escape(footer)}</p>' if footer else ""
    return (
        '<html><head><meta charset="utf-8"></head><body><div dir="auto">'
        f"{paragraphs}</div>{foot}</body></html>\n"
    )


def _flow(text: str, width: int = 72) -> str:
    """RFC 3676 format=flowed: long lines broken at spaces, each soft break left as a trailing space."""
    lines = textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)
    return " \n".join(lines)


def _outlook_html(text: str, report: dict[str, Any]) -> str:
    """Outlook's HTML: MsoNormal paragraphs, &nbsp; spacers, the forwarded block behind a top border."""
    header = html.escape(_outlook_forward_header(report).split("\n", 1)[1]).replace("\n", "<br>\n")
    original = html.escape(NEUTRAL_ORIGINAL).replace("\n", "<br>\n")
    return (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta http-equiv="Content-Type" '
        'content="text/html; charset=utf-8"><style>p.MsoNormal{margin:0cm;font-size:11.0pt}</style></head>'
        '<body lang="EN-US"><div class="WordSection1">'
        f'<p class="MsoNormal">{html.escape(text)}<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        f'<p class="MsoNormal"><b>{header.split(":", 1)[0]}:</b>{header.split(":", 1)[1]}</p></div>'
        f'<p class="MsoNormal">{original}</p></div></body></html>\n'
    )


def _gmail_forward_header(report: dict[str, Any]) -> str:
    when = _when(report) - timedelta(minutes=7)
    return (
        "---------- Forwarded message ---------\n"
        f"From: {NAMES[_pick(report['id'], 'fwd', len(NAMES))]} <student{_pick(report['id'], 'fwdn', 90)}@example.org>\n"
        f"Date: {_gmail_date(when)}\n"
        f"Subject: {PHRASES.get(report['lang'], PHRASES['en']).subject}\n"
        "To: <counselor@example.edu>"
    )


def _gmail_date(when: datetime) -> str:
    """Gmail's own form: "Tue, Oct 6, 2026 at 6:37 AM" (no zero padding)."""
    return f"{when:%a, %b} {when.day}, {when.year} at {when.hour % 12 or 12}:{when:%M %p}"


def _forward_header_any(report: dict[str, Any]) -> str:
    """A forwarded student message as Gmail, Apple Mail or classic Outlook lays it out."""
    layout = _pick(report["id"], "fwd-layout", 3)
    if layout == 0:
        return _gmail_forward_header(report)
    when = _when(report) - timedelta(minutes=7)
    sender = f"{NAMES[_pick(report['id'], 'fwd', len(NAMES))]} <student{_pick(report['id'], 'fwdn', 90)}@example.org>"
    subject = PHRASES.get(report["lang"], PHRASES["en"]).subject
    if layout == 1:
        return (
            f"Begin forwarded message:\n\nFrom: {sender}\nSubject: {subject}\n"
            f"Date: {when.strftime('%B %d, %Y at %I:%M:%S %p')} GMT\nTo: counselor@example.edu"
        )
    return (
        f"-----Original Message-----\nFrom: {sender}\nSent: {when.strftime('%A, %B %d, %Y %I:%M %p')}\n"
        f"To: counselor@example.edu\nSubject: {subject}"
    )


def _outlook_forward_header(report: dict[str, Any]) -> str:
    when = _when(report) - timedelta(hours=2)
    return (
        "________________________________\n"
        "From: Front Office <office@example.edu>\n"
        f"Sent: {when.strftime('%A, %B %d, %Y %I:%M %p')}\n"
        "To: All Families <families@example.edu>\n"
        "Subject: Weekly update"
    )


def _legacy_charset(lang: str, text: str) -> str:
    charset = LEGACY_CHARSETS.get(lang, "utf-8")
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return "utf-8"
    return charset


def _when(report: dict[str, Any]) -> datetime:
    minutes = _pick(report["id"], "when", 60 * 24 * 60)
    return datetime(2026, 9, 1, tzinfo=UTC) + timedelta(minutes=minutes)


def _pick(ident: str, salt: str, n: int) -> int:
    return int(_digest(ident, salt)[:8], 16) % n


def _digest(ident: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{ident}".encode()).hexdigest()


def bank_embeddings_built() -> bool:
    """Whether the shipped bank's precomputed embeddings exist for the bank as it is now: tests that
    run the real model skip without them (CI builds none; ``python bench/triage_bank_vectors.py``)."""
    from stopit_mail.cases.detect.bank import shipped_bank  # noqa: PLC0415 - only for the real-model tests
    from stopit_mail.cases.detect.bank_vectors import ShippedVectorsError, read_manifest  # noqa: PLC0415

    try:
        return read_manifest().bank_digest == shipped_bank().digest
    except (ShippedVectorsError, OSError, ValueError, KeyError):  # none built, or for another bank
        return False
