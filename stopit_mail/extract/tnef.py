"""Outlook's winmail.dat (TNEF) attached to a report, read as evidence.

Outlook and Exchange send a message written in rich text as ``application/ms-tnef``, usually
named ``winmail.dat``: everything the reporter attached is inside it, not in MIME parts. When the
reporter forwarded the offending message as an attachment, the offending message is an Outlook
item inside it (PR_ATTACH_DATA_OBJ), with its transport headers in
PR_TRANSPORT_MESSAGE_HEADERS, exactly like an attached .msg. Without reading it the report
shows one opaque file and the offending sender is never found.

``tnefparse`` (LGPL-3.0, pure Python, on PyPI) decodes the stream; this module maps what it
reads onto :class:`MsgContent`, so a TNEF item becomes evidence exactly as a .msg does. The
file comes from whoever wrote to the reporter, so it is hostile input: tnefparse copies the
rest of the stream for every attribute it reads, so a stream of many tiny attributes costs the
square of its size. The attributes are therefore counted (and the bytes tnefparse would copy
summed) before it runs, and a stream over the limits is kept as a file with a problem.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tnefparse import TNEF

from stopit_mail.extract.htmltext import html_to_text
from stopit_mail.extract.outlook_msg import MsgAttachment, MsgContent

_LOG = logging.getLogger(__name__)
TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
_SIGNATURE = struct.pack("<I", 0x223E9F78)
_IID_IMESSAGE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
_ATTRIBUTE_HEAD = struct.Struct("<BHHI")  # level, name, type, length; the data and a checksum follow

MAX_TNEF_BYTES = 64 * 1024 * 1024
MAX_ATTRIBUTES = 2000  # a real winmail.dat holds a few dozen
MAX_COPIED_BYTES = 1024 * 1024 * 1024  # what tnefparse copies while reading: about a quarter second
MAX_EMBEDDED = 32  # Outlook items inside items, at any depth

_TRANSPORT_HEADERS, _SUBJECT, _SENDER_NAME = 0x007D, 0x0037, 0x0C1A
_SENDER_ADDRESSES = (0x5D01, 0x0C1F, 0x0065)  # SMTP forms first: PR_SENDER_EMAIL_ADDRESS may be an X.500 DN
_DISPLAY_TO, _DISPLAY_CC, _MESSAGE_ID, _SUBMITTED = 0x0E04, 0x0E03, 0x1035, 0x0039
_ATTACH_MIME_TAG = 0x370E
_ATT_SUBJECT = 0x8004


def looks_like_tnef(content: bytes, content_type: str | None, filename: str | None) -> bool:
    """A TNEF stream: typed or named so, and starting with the TNEF signature."""
    named = (content_type or "").lower() in TNEF_TYPES or (filename or "").lower() == "winmail.dat"
    return named and content.startswith(_SIGNATURE)


def _stream_cost(data: bytes, start: int) -> tuple[int, int]:
    """(attributes, bytes tnefparse copies) reading the TNEF stream at `start` to the end of `data`."""
    count = copied = 0
    offset = start + 6  # signature and key
    while offset + _ATTRIBUTE_HEAD.size + 2 < len(data):
        count += 1
        copied += len(data) - offset
        if count > MAX_ATTRIBUTES:
            break
        _level, _name, _type, length = _ATTRIBUTE_HEAD.unpack_from(data, offset)
        offset += _ATTRIBUTE_HEAD.size + length + 2
    return count, copied


def _over_limits(content: bytes) -> str | None:
    """Why the stream is not read (too large, too many attributes or items), or None."""
    if len(content) > MAX_TNEF_BYTES:
        return f"larger than {MAX_TNEF_BYTES} bytes"
    starts = [0]
    found = content.find(_IID_IMESSAGE)
    while found >= 0:
        if len(starts) > MAX_EMBEDDED:
            return f"more than {MAX_EMBEDDED} Outlook items inside"
        starts.append(found + len(_IID_IMESSAGE))
        found = content.find(_IID_IMESSAGE, found + 1)
    attributes = copied = 0
    for start in starts:
        count, cost = _stream_cost(content, start)
        attributes, copied = attributes + count, copied + cost
        if attributes > MAX_ATTRIBUTES or copied > MAX_COPIED_BYTES:
            return f"more than {MAX_ATTRIBUTES} attributes or too costly to read"
    return None


def _text(value: Any) -> str:
    """A MAPI string value as tnefparse gives it (a list of one, padded with NULs), as text."""
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).rstrip("\x00").strip() if value is not None else ""


def _props(found: Iterable[Any]) -> dict[int, Any]:
    values: dict[int, Any] = {}
    for prop in found:
        try:
            values.setdefault(prop.name, prop.data)
        except Exception:  # noqa: BLE001 - one unreadable property leaves the others
            continue
    return values


def _body(tnef: TNEF) -> str:
    if tnef.body:
        return _text(tnef.body)
    if tnef.htmlbody:
        return html_to_text(_text(tnef.htmlbody))
    return ""


def _fill(tnef: TNEF, found: MsgContent) -> None:
    """`found` from a decoded TNEF stream (the message, or an Outlook item inside it)."""
    props = _props(tnef.mapiprops)
    found.header_block = _text(props.get(_TRANSPORT_HEADERS))
    found.subject = _text(props.get(_SUBJECT)) or next(
        (_text(obj.data) for obj in tnef.msgprops if obj.name == _ATT_SUBJECT), "")
    found.body = _body(tnef)
    found.sender_name = _text(props.get(_SENDER_NAME))
    found.sender_address = next((a for a in (_text(props.get(p)) for p in _SENDER_ADDRESSES) if "@" in a), "")
    found.display_to = _text(props.get(_DISPLAY_TO))
    found.display_cc = _text(props.get(_DISPLAY_CC))
    found.message_id = _text(props.get(_MESSAGE_ID))
    submitted = props.get(_SUBMITTED)
    found.submitted = submitted.replace(tzinfo=UTC) if isinstance(submitted, datetime) else None
    for attachment in tnef.attachments:
        embedded = getattr(attachment, "embed", None)
        if embedded is not None:
            inner = MsgContent()
            _fill(embedded, inner)
            if not inner.header_block.strip():
                inner.problems.append("no transport headers in the Outlook item (a draft or a message never sent)")
            found.embedded.append(inner)
            continue
        data = attachment.data if isinstance(attachment.data, bytes) else b""
        if not data:
            found.problems.append("an attachment without data was not extracted")
            continue
        attrs = _props(attachment.mapi_attrs)
        found.attachments.append(MsgAttachment(
            _text(attachment.long_filename()) or "attachment", _text(attrs.get(_ATTACH_MIME_TAG)) or None, data))


def read_tnef(content: bytes) -> MsgContent:
    """Read a winmail.dat; problems (limits, a damaged stream) are recorded, never raised.

    The result describes the reporter's own Outlook message: its files and the Outlook items
    (offending messages forwarded as attachments) are in `attachments` and `embedded`."""
    found = MsgContent()
    reason = _over_limits(content)
    if reason is not None:
        found.problems.append(f"Outlook TNEF (winmail.dat) not read: {reason}")
        return found
    try:
        tnef = TNEF(content, do_checksum=False)
        _fill(tnef, found)
    except Exception as exc:  # noqa: BLE001 - a damaged stream is evidence with a problem, not a crash
        _LOG.info("reading a TNEF stream failed: %s", type(exc).__name__)
        text = str(exc)
        found.problems.append(f"unreadable Outlook TNEF (winmail.dat): {type(exc).__name__}: {text[:200]}")
    return found
