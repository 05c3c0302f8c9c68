"""Build outgoing RFC 5322 messages with every header checked for CR/LF injection.

Every message gets a Message-ID and Date; automatic ones carry `Auto-Submitted: auto-replied`
(RFC 3834) so well-behaved responders do not answer them; replies thread with In-Reply-To
and References.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import quoprimime
from email.message import EmailMessage
from email.policy import SMTP

from stopit_mail.outbound.arf import Feedback, apply_feedback
from stopit_mail.textsafe import checked_header


@dataclass
class Draft:
    """What to send; `compose` turns it into bytes."""

    from_address: str
    to: list[str]
    subject: str
    body: str
    from_name: str = ""
    reply_to: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    automatic: bool = True
    extra_headers: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    #: An abuse report (ARF or X-ARF) built around the body; see :mod:`stopit_mail.outbound.arf`.
    feedback: Feedback | None = None


@dataclass(frozen=True)
class Attachment:
    """A file to attach; `message/rfc822` content is attached as a message."""

    filename: str
    content_type: str
    content: bytes


def new_message_id(domain: str) -> str:
    """A fresh Message-ID under our domain."""
    return email.utils.make_msgid(idstring="stopit", domain=domain.lower())


# Header lines the fast path may write as they are: the modern policy would not fold or encode
# them (no encoded word to decode and encode again, no display name it would quote).
_PLAIN_HEADER = re.compile(r"[\x20-\x7e]{1,78}")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 ]*")
# Quoted-printable lines are folded at the policy's length, as the text content manager folds them.
_QP_LINE_LENGTH = SMTP.max_line_length or 78


def _headers(draft: Draft, message_id: str) -> list[tuple[str, str]]:
    sender = email.utils.formataddr((checked_header(draft.from_name), checked_header(draft.from_address)))
    headers = [("From", sender), ("To", ", ".join(checked_header(a) for a in draft.to)),
               ("Subject", checked_header(draft.subject)),
               ("Date", email.utils.format_datetime(datetime.now(UTC).replace(microsecond=0))),
               ("Message-ID", checked_header(message_id))]
    if draft.reply_to:
        headers.append(("Reply-To", checked_header(draft.reply_to)))
    if draft.in_reply_to:
        headers.append(("In-Reply-To", checked_header(draft.in_reply_to)))
    refs = [checked_header(r) for r in draft.references]
    if refs:
        headers.append(("References", " ".join(refs)))
    if draft.automatic:
        headers += [("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")]
    headers += [(checked_header(name), checked_header(value)) for name, value in draft.extra_headers.items()]
    return headers


def _header_line(name: str, value: str, plain: bool = True) -> bytes:
    """One header as the modern policy writes it: a short ASCII line as it is, anything else
    folded and encoded by the policy itself (the very calls `as_bytes` makes for it)."""
    line = f"{name}: {value}"
    if plain and value and _PLAIN_HEADER.fullmatch(line) and value.strip() == value and "=?" not in value:
        return line.encode("ascii") + b"\r\n"
    return SMTP.fold_binary(*SMTP.header_store_parse(name, value))


def _compose_plain(draft: Draft, headers: list[tuple[str, str]]) -> bytes | None:
    """The same bytes as the email package writes for a text message, or None (attachments,
    an abuse report, an empty body: those go through the email package).

    Composing with the modern policy costs from six to thirty times as much as writing the lines
    (parsing every header back into objects, then folding each again); here only a header that
    is not a short ASCII line is handed to the policy, and the body is encoded by the same
    function the text content manager calls (7bit, else quoted-printable).
    """
    if draft.attachments or draft.feedback is not None:
        return None
    lines = draft.body.encode("utf-8").splitlines()
    if not lines:
        return None
    head = b"".join(_header_line(name, value, name != "From" or bool(_PLAIN_NAME.fullmatch(draft.from_name)))
                    for name, value in headers)
    if _seven_bit(draft.body):
        cte, body = "7bit", b"".join(line + b"\r\n" for line in lines)
    else:
        encoded = quoprimime.body_encode((b"\n".join(lines) + b"\n").decode("latin-1"), _QP_LINE_LENGTH)
        cte, body = "quoted-printable", encoded.replace("\n", "\r\n").encode("ascii")
    return (head + b'Content-Type: text/plain; charset="utf-8"\r\n'
            + f"Content-Transfer-Encoding: {cte}\r\nMIME-Version: 1.0\r\n\r\n".encode("ascii") + body)


def _seven_bit(body: str) -> bool:
    """Plain ASCII goes out as 7bit so the Maildir copy and the recipient's raw view stay
    readable; the email package would otherwise pick quoted-printable for lines over 78."""
    return body.isascii() and max(map(len, body.splitlines() or [""])) <= 990


def compose(draft: Draft, message_id: str) -> bytes:
    """Serialise a draft; raises HeaderInjection for a header value with CR or LF."""
    headers = _headers(draft, message_id)
    plain = _compose_plain(draft, headers)
    if plain is not None:
        return plain
    return _compose_mime(draft, headers)


def _compose_mime(draft: Draft, headers: list[tuple[str, str]]) -> bytes:
    msg = EmailMessage(policy=SMTP)
    for name, value in headers:
        msg[name] = value
    msg.set_content(draft.body, charset="utf-8", cte="7bit" if _seven_bit(draft.body) else "quoted-printable")
    for attachment in draft.attachments:
        _attach(msg, attachment)
    if draft.feedback is not None:
        apply_feedback(msg, draft.feedback)
    return msg.as_bytes()


def _attach(msg: EmailMessage, attachment: Attachment) -> None:
    maintype, _, subtype = attachment.content_type.partition("/")
    if (maintype, subtype) == ("message", "rfc822"):
        # Attached as application/octet-stream .eml: RFC 2046 forbids base64 for message/rfc822,
        # and evidence may be 8-bit or binary, which some relays would mangle.
        maintype, subtype = "application", "octet-stream"
    msg.add_attachment(attachment.content, maintype=maintype or "application",
                       subtype=subtype or "octet-stream", filename=checked_header(attachment.filename))
