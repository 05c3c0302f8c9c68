"""Abuse reports in the formats abuse desks read: ARF (RFC 5965) and X-ARF.

ARF is a ``multipart/report; report-type=feedback-report`` message with three parts: the
human-readable explanation, a ``message/feedback-report`` part of ``Name: value`` fields
(``Feedback-Type``, ``User-Agent`` and ``Version`` are required), and the reported message as
``message/rfc822`` or, when only its header section is sent, ``text/rfc822-headers``.
X-ARF (v0.2, used by many European abuse desks) is ``multipart/mixed``: the explanation, a
YAML ``report.txt`` with the machine-readable fields, and the evidence.

:func:`apply_feedback` turns a composed single-part message (the explanation) into one of
these; :mod:`stopit_mail.outbound.compose` calls it when a draft carries a :class:`Feedback`.
Every field value is checked for CR/LF before it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP

from stopit_mail.textsafe import checked_header

ARF, XARF = "arf", "xarf"
FORMATS = (ARF, XARF)
USER_AGENT = "stopit-mail/1.0"


@dataclass(frozen=True)
class Feedback:
    """What an abuse report says about one message, beyond the human-readable text.

    ``fields`` are the optional RFC 5965 fields in order (``Source-IP``, ``Arrival-Date``,
    ``Reported-Domain``...); ``evidence`` is the message or, with ``headers_only``, its
    header section.
    """

    format: str
    evidence: bytes
    headers_only: bool
    fields: list[tuple[str, str]] = field(default_factory=list)
    report_id: str = ""


def _feedback_part(feedback: Feedback) -> MIMEPart:
    lines = [("Feedback-Type", "abuse"), ("User-Agent", USER_AGENT), ("Version", "1"), *feedback.fields]
    text = "".join(f"{checked_header(name)}: {checked_header(value)}\r\n" for name, value in lines)
    part = MIMEPart(policy=SMTP)
    part["Content-Type"] = "message/feedback-report"
    part["Content-Transfer-Encoding"] = "7bit"
    part.set_payload(text)
    return part


def _xarf_part(feedback: Feedback, date: str, reporter: str) -> MIMEPart:
    source = dict(feedback.fields).get("Source-IP", "")
    yaml = [("Reported-From", reporter), ("Category", "abuse"),
            ("Report-Type", "harassment"), ("Report-ID", feedback.report_id), ("Service", "smtp"),
            ("Version", "0.2"), ("User-Agent", USER_AGENT), ("Date", date),
            ("Source-Type", "ipv6" if ":" in source else "ipv4"), ("Source", source),
            ("Attachment", "text/rfc822-headers" if feedback.headers_only else "message/rfc822")]
    text = "".join(f"{name}: {_yaml_scalar(checked_header(value))}\r\n" for name, value in yaml)
    part = MIMEPart(policy=SMTP)
    part.set_content(text, charset="utf-8", cte="7bit" if text.isascii() else "quoted-printable")
    part.set_param("name", "report.txt")
    return part


def _yaml_scalar(value: str) -> str:
    """A YAML plain scalar when safe, else a double-quoted one."""
    if value and value.replace(".", "").replace(":", "").replace("-", "").replace("@", "").isalnum():
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _evidence_part(feedback: Feedback) -> MIMEPart:
    part = MIMEPart(policy=SMTP)
    if feedback.headers_only:
        part["Content-Type"] = "text/rfc822-headers"
        part["Content-Transfer-Encoding"] = "7bit" if feedback.evidence.isascii() else "8bit"
        part.set_payload(feedback.evidence.decode("utf-8", "replace"))
        return part
    part["Content-Type"] = "message/rfc822"
    part["Content-Disposition"] = "inline"
    part["Content-Transfer-Encoding"] = "8bit"
    part.set_payload(feedback.evidence.decode("utf-8", "surrogateescape"))
    return part


def apply_feedback(msg: EmailMessage, feedback: Feedback) -> None:
    """Turn ``msg`` (its text part already set) into an ARF or X-ARF report."""
    explanation = MIMEPart(policy=SMTP)
    for name in ("Content-Type", "Content-Transfer-Encoding"):
        if msg[name] is not None:
            explanation[name] = msg[name]
    explanation.set_payload(msg.get_payload())
    for name in ("Content-Type", "Content-Transfer-Encoding", "MIME-Version"):
        del msg[name]
    msg["MIME-Version"] = "1.0"
    if feedback.format == ARF:
        msg["Content-Type"] = "multipart/report; report-type=feedback-report"
        second = _feedback_part(feedback)
    else:
        msg["Content-Type"] = "multipart/mixed"
        msg["X-XARF"] = "PLAIN"
        second = _xarf_part(feedback, str(msg["Date"] or ""), str(msg["From"] or ""))
    msg.set_payload([explanation, second, _evidence_part(feedback)])
