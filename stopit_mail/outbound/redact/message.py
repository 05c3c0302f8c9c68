"""Redact a message as a MIME tree: every header, every text part, attached messages, files.

Headers are read decoded (RFC 2047, folding undone) and rewritten when they hold a trace.
Text parts are decoded from any transfer encoding and charset, scrubbed, and re-encoded as
UTF-8; an HTML part is checked again after its entities are unescaped, and when a trace hides
behind markup or entities the part is replaced by its scrubbed plain text, and whatever else it
would load from outside when shown (a tracking pixel) is made inert. Attached messages
are redacted recursively; images lose all metadata (Pillow) and keep their pixels; anything
else that cannot be redacted with certainty (a PDF, an office document, rich text, a uuencoded
file inside a text, an unknown binary) is
left out and listed, so the referral can say so. DKIM signatures no longer verify afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.header import Header
from email.message import EmailMessage, Message
from email.parser import BytesParser

from stopit_mail.outbound.redact.images import ImageUnreadable, strip_metadata
from stopit_mail.outbound.redact.remote import READ_RECEIPT_FIELDS, inert_html
from stopit_mail.outbound.redact.shown import (
    byte_order_unsaid,
    content_lines_shown,
    decode_text_file,
    header_shown,
    html_forms,
    html_shown,
    is_rich_text,
    wide_readings,
    without_uuencoded,
)
from stopit_mail.outbound.redact.traces import Traces

MAX_DEPTH = 8


@dataclass
class Redacted:
    """The redacted bytes (None when nothing could be kept) and what was left out or changed."""

    content: bytes | None
    content_type: str
    filename: str
    left_out: list[str] = field(default_factory=list)
    changed: bool = False


def _parse(content: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(content)
    assert isinstance(message, EmailMessage)
    return message


def _set_header(part: Message, name: str, text: str, readable: bool) -> None:
    """Add a header field; one Python cannot parse (or a second Subject) is written as encoded
    words in short lines, which serialising never parses again."""
    if readable:
        try:
            part[name] = text
            return
        except Exception:  # noqa: BLE001, S110 - the parser's bugs raise anything; written raw below
            pass
    part.set_raw(name, Header(text, "utf-8", header_name=name).encode(linesep="\r\n"))


def _redact_headers(part: Message, traces: Traces) -> bool:
    """Scrub every header field holding a trace, drop read-receipt requests, and rewrite the fields
    Python cannot parse (which would otherwise fail the whole redaction, or its serialising, and
    so the referral)."""
    changed = False
    for name in {name for name in part.keys() if name.lower() in READ_RECEIPT_FIELDS}:
        del part[name]
        changed = True
    fields = [(name, *header_shown(part, name, raw)) for name, raw in part.raw_items()]
    for name in {name.lower(): name for name, _text, _readable in reversed(fields)}.values():
        mine = [(text, readable) for other, text, readable in fields if other.lower() == name.lower()]
        if all(readable for _text, readable in mine) and not any(traces.find(text) for text, _r in mine):
            continue
        del part[name]
        for text, readable in mine:
            _set_header(part, name, " ".join(traces.scrub(text).split()), readable)
        changed = True
    return changed


def _scrubbed(text: str, subtype: str, traces: Traces) -> tuple[str, str]:
    """(text scrubbed, its subtype): HTML in which a trace hides behind entities, comments, split
    tags or a link becomes the plain words it shows, scrubbed."""
    scrubbed = traces.scrub(text)
    if subtype == "html" and any(traces.find(form) for form in html_forms(scrubbed)):
        return traces.scrub(html_shown(scrubbed)), "plain"
    # A tracking pixel loaded by the office's client would tell the harasser the reporter reported.
    return (inert_html(scrubbed) if subtype == "html" else scrubbed), subtype


def _redact_text_part(part: EmailMessage, traces: Traces) -> bool:
    try:
        text = part.get_content()
    except (LookupError, ValueError, AssertionError):
        text = "\ufffd"
    if not isinstance(text, str):
        text = str(text)
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    if byte_order_unsaid(part.get_content_charset()):
        # "utf-16" without a byte order mark: Python reads little-endian, big-endian text as CJK.
        text = wide_readings(data, part.get_content_charset() or "")[0]
    elif "\x00" in text or "\ufffd" in text:
        # Not in the charset it names (UTF-16 or Windows-1252 without a label, an unknown one): a
        # name read with NUL bytes between its letters, or with its accents replaced, matched nothing.
        text = decode_text_file(data, part.get_content_charset())
    text = without_uuencoded(content_lines_shown(text, part.get_content_type(), part.get_filename()))
    html = part.get_content_subtype() == "html" or (part.get_filename() or "").lower().endswith((".html", ".htm"))
    scrubbed, subtype = _scrubbed(text, "html" if html else part.get_content_subtype(), traces)
    if scrubbed == text and subtype == part.get_content_subtype():
        return False
    disposition = part.get("Content-Disposition")
    filename = part.get_filename()
    part.set_content(scrubbed, subtype=subtype, charset="utf-8", cte="quoted-printable")
    if disposition and filename:
        part.add_header("Content-Disposition", "attachment", filename=traces.scrub(filename))
    return True


def _redact_leaf(part: EmailMessage, traces: Traces, left_out: list[str], depth: int) -> bool:
    """Redact one non-multipart part in place; returns False when it must be dropped."""
    maintype = part.get_content_maintype()
    content_type = part.get_content_type()
    if maintype == "text" and not is_rich_text(content_type, part.get_filename()):
        _redact_text_part(part, traces)
        return True
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    filename = traces.scrub(part.get_filename() or "")
    result = redact_file(data, content_type, filename, traces, depth + 1)
    if result.content is None:
        left_out.extend(result.left_out)
        return False
    main, _, sub = result.content_type.partition("/")
    part.set_content(result.content, maintype=main, subtype=sub, filename=result.filename or None)
    return True


def _redact_tree(part: EmailMessage, traces: Traces, left_out: list[str], depth: int) -> None:
    _redact_headers(part, traces)
    if depth > MAX_DEPTH:
        raise ImageUnreadable("nested too deeply")
    if part.get_content_type() in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        inner_msg = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(inner_msg, EmailMessage):
            _redact_tree(inner_msg, traces, left_out, depth + 1)
        return
    if part.is_multipart():
        kept = []
        for child in part.get_payload():  # type: ignore[union-attr]
            if isinstance(child, EmailMessage) and (child.is_multipart() or child.get_content_type().startswith("message/")):
                _redact_tree(child, traces, left_out, depth + 1)
                kept.append(child)
            elif isinstance(child, EmailMessage):
                _redact_headers(child, traces)
                if _redact_leaf(child, traces, left_out, depth):
                    kept.append(child)
        part.set_payload(kept)  # type: ignore[arg-type]
        return
    if not _redact_leaf(part, traces, left_out, depth):
        part.set_content("[an attachment was left out: it cannot be redacted with certainty]")


def redact_message(content: bytes, traces: Traces, depth: int = 0) -> Redacted:
    """A whole message (an .eml of evidence) with every trace of the reporter removed."""
    message = _parse(content)
    left_out: list[str] = []
    _redact_tree(message, traces, left_out, depth)
    redacted = message.as_bytes(policy=policy.SMTP)
    return Redacted(redacted, "message/rfc822", "", left_out, redacted != content)


def redact_file(content: bytes, content_type: str, filename: str, traces: Traces, depth: int = 0) -> Redacted:
    """One evidence file: a message, a text, an image; anything else is left out and listed."""
    maintype = content_type.partition("/")[0]
    label = f"{filename or 'unnamed'} ({content_type}, {len(content)} bytes)"
    if content_type in ("message/rfc822", "message/global") or filename.lower().endswith(".eml"):
        try:
            return redact_message(content, traces, depth)
        # The email package's own bugs on hostile structure (TypeError, AttributeError) leave it out too.
        except (ImageUnreadable, ValueError, LookupError, IndexError, RecursionError, TypeError, AttributeError):
            return Redacted(None, content_type, filename, [f"{label}: a message that could not be redacted"])
    if maintype == "text" and not is_rich_text(content_type, filename):
        # An HTML file (a saved page, a chat export) is read as HTML whatever its label says.
        html = content_type == "text/html" or filename.lower().endswith((".html", ".htm"))
        text, subtype = _scrubbed(without_uuencoded(content_lines_shown(decode_text_file(content), content_type,
                                                                        filename)), "html" if html else "plain", traces)
        return Redacted(text.encode("utf-8"), f"text/{subtype}", traces.scrub(filename), [], True)
    if maintype == "image":
        try:
            clean, clean_type = strip_metadata(content)
        except ImageUnreadable:
            return Redacted(None, content_type, filename, [f"{label}: an image that could not be decoded"])
        return Redacted(clean, clean_type, traces.scrub(filename), [], True)
    return Redacted(None, content_type, filename, [f"{label}: cannot be redacted with certainty"])
