"""Decide what kind of message arrived, from its headers and envelope alone.

Order matters: a bounce is recognised first (it may also carry Auto-Submitted), then any
automatic message (RFC 3834), then a reply on a known case, and only what remains is a new
report. This function does no database work: it returns the hints (alias code, subject tag,
referenced Message-IDs) and the case layer resolves them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

from stopit_mail.extract import mime
from stopit_mail.extract.bounces import MESSAGE_ID_RE
from stopit_mail.models import MessageKind

_SUBJECT_TAG = re.compile(r"\[([A-Z]{1,6}-\d{4}-\d{4,})\]")
_NULL_SENDERS = ("", "<>")
_DAEMON_LOCALS = ("mailer-daemon", "postmaster")


@dataclass
class Arrival:
    """The classification of a stored message and the evidence for it."""

    kind: MessageKind
    reason: str
    alias_codes: list[str] = field(default_factory=list)
    subject_tags: list[str] = field(default_factory=list)
    referenced_ids: list[str] = field(default_factory=list)


def automatic_reason(message: Message, mail_from: str | None) -> str | None:
    """Why a message is automatic (RFC 3834 and common practice), or None for a person's mail."""
    auto = mime.header(message, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"):
        value = mime.header(message, name)
        if value and not (name == "X-Auto-Response-Suppress"):
            return f"{name}: {value}"
    precedence = mime.header(message, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    if mime.header(message, "List-Id"):
        return "List-Id present (mailing-list traffic)"
    if mail_from is not None and mail_from.strip() in _NULL_SENDERS:
        return "null envelope sender"
    return None


def is_bounce(message: Message, mail_from: str | None) -> bool:
    """An RFC 3464 delivery status notification, an abuse feedback report, or a daemon's
    non-standard bounce."""
    content_type = message.get_content_type()
    report_type = (message.get_param("report-type") or "") if content_type == "multipart/report" else ""
    # Delivery status notifications, and abuse feedback reports (ARF, RFC 5965; X-ARF): machine
    # reports about a message, never a new complaint (our own abuse reports may come back).
    if str(report_type).lower() in ("delivery-status", "feedback-report") or message.get("X-XARF"):
        return True
    senders = mime.addresses(message, "From")
    local = senders[0][1].split("@")[0] if senders else ""
    null_sender = mail_from is not None and mail_from.strip() in _NULL_SENDERS
    return null_sender and local in _DAEMON_LOCALS


def alias_codes(rcpt_to: list[str], message: Message) -> list[str]:
    """Codes from `local+code@domain` recipients (envelope first, then To/Cc headers)."""
    candidates = list(rcpt_to)
    candidates += [addr for _name, addr in mime.addresses(message, "To") + mime.addresses(message, "Cc")]
    codes = []
    for address in candidates:
        local = address.lower().partition("@")[0]
        if "+" in local:
            code = local.split("+", 1)[1]
            if code and code not in codes:
                codes.append(code)
    return codes


def classify(message: Message, mail_from: str | None, rcpt_to: list[str]) -> Arrival:
    """Classify an arrival; the case layer decides whether hinted cases really exist."""
    if is_bounce(message, mail_from):
        return Arrival(MessageKind.BOUNCE, "delivery status notification")
    return classify_not_bounce(message, rcpt_to, automatic_reason(message, mail_from))


def classify_not_bounce(message: Message, rcpt_to: list[str], automatic: str | None) -> Arrival:
    """`classify` of a message already known not to be a bounce, whose `automatic_reason` the
    caller has (the chain reads both before it classifies: each is read once)."""
    if automatic:
        return Arrival(MessageKind.AUTO_REPLY, automatic)
    refs = " ".join(mime.header(message, h) for h in ("In-Reply-To", "References"))
    arrival = Arrival(
        MessageKind.REPORT,
        "new report",
        alias_codes=alias_codes(rcpt_to, message),
        subject_tags=_SUBJECT_TAG.findall(mime.header(message, "Subject")),
        referenced_ids=MESSAGE_ID_RE.findall(refs),
    )
    if arrival.alias_codes or arrival.subject_tags or arrival.referenced_ids:
        arrival.kind = MessageKind.REPLY
        arrival.reason = "possible reply on a case"
    return arrival
