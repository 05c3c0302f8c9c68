"""Outlook .msg files attached to a report, read as evidence.

Reporters who drag a message into a new mail in Outlook desktop attach it as a ``.msg`` file: a
Compound File with one stream per MAPI property ([MS-OXMSG]). The transport headers (with the
Received chain) survive in PR_TRANSPORT_MESSAGE_HEADERS, so the message is evidence at
completeness ``headers``: traceable, but not verifiable, because the original MIME bytes are gone.

``olefile`` (BSD-2-Clause) reads the Compound File; the MAPI layer on top is the small part of
[MS-OXMSG] below. The file comes from whoever wrote to the reporter, so it is hostile input:
sizes, entry counts, bytes read and nesting are capped, and nothing here raises: a damaged file
gives a :class:`MsgContent` with problems.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import olefile

from stopit_mail.extract.msg_props import PropertyReader, StorageBudget

_LOG = logging.getLogger(__name__)
MSG_TYPES = ("application/vnd.ms-outlook", "application/x-msg")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Limits on hostile files. A real .msg is a few MiB with tens of entries per attachment.
MAX_MSG_BYTES = 64 * 1024 * 1024
MAX_ENTRIES = 8192
MAX_ATTACHMENTS = 256
MAX_EMBED_DEPTH = 3
_MAX_PARSING_ISSUES = 5

# Header sizes of the properties stream ([MS-OXMSG] 2.4): top-level message, embedded message,
# attachment or recipient.
_TOP_HEADER, _EMBEDDED_HEADER, _ATTACH_HEADER = 32, 24, 8
_ATTACH_STORAGE = re.compile(r"__attach_version1\.0_#[0-9A-Fa-f]{8}")
_EMBEDDED_STORAGE = "__substg1.0_3701000D"
_ATTACH_EMBEDDED_MSG = 5
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


@dataclass
class MsgAttachment:
    """A file inside the .msg."""

    filename: str
    content_type: str | None
    content: bytes


@dataclass
class MsgContent:
    """What a .msg holds: its header section (as the transport wrote it), body and files.

    The sender, recipients, message id and submit time are the MAPI copies a client shows; the
    header block stays the evidence that counts. Messages dragged into this one are `embedded`.
    """

    header_block: str = ""
    subject: str = ""
    body: str = ""
    attachments: list[MsgAttachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sender_name: str = ""
    sender_address: str = ""
    display_to: str = ""
    display_cc: str = ""
    message_id: str = ""
    submitted: datetime | None = None
    embedded: list[MsgContent] = field(default_factory=list)


def named_msg(content_type: str | None, filename: str | None) -> bool:
    """Named or typed as an Outlook item, whatever the bytes are."""
    return (filename or "").lower().endswith(".msg") or (content_type or "").lower() in MSG_TYPES


def looks_like_msg(content: bytes, content_type: str | None, filename: str | None) -> bool:
    """An Outlook item: named or typed so, and a Compound File."""
    return named_msg(content_type, filename) and content.startswith(_OLE_MAGIC)


def read_msg(content: bytes) -> MsgContent:
    """Read a .msg; problems (a damaged file, no transport headers) are recorded, never raised."""
    found = MsgContent()
    if len(content) > MAX_MSG_BYTES:
        found.problems.append(f"unreadable .msg: larger than {MAX_MSG_BYTES} bytes")
        return found
    try:
        # A file object always: given bytes shorter than 1536, olefile takes them for a path.
        ole = olefile.OleFileIO(io.BytesIO(content))
    except Exception as exc:  # noqa: BLE001 - a damaged file is evidence with a problem, not a crash
        found.problems.append(f"unreadable .msg: {type(exc).__name__}: {_short(exc)}")
        return found
    try:
        if len(ole.direntries) > MAX_ENTRIES:
            found.problems.append(f"unreadable .msg: more than {MAX_ENTRIES} entries")
            return found
        budget = StorageBudget(ole, found.problems, max_bytes=2 * len(content) + 1024 * 1024)
        _read_message(budget, (), _TOP_HEADER, found, depth=0)
    except Exception as exc:  # noqa: BLE001 - includes RecursionError from a degenerate directory tree
        _LOG.info("reading a .msg failed part way: %s", exc)
        found.problems.append(f"partly unreadable .msg: {type(exc).__name__}: {_short(exc)}")
    finally:
        issues = [message for _kind, message in ole.parsing_issues[:_MAX_PARSING_ISSUES]]
        found.problems.extend(f"damaged .msg: {_short(message)}" for message in issues)
        ole.close()
    _note_missing_headers(found)
    return found


def _note_missing_headers(found: MsgContent) -> None:
    if not found.header_block.strip():
        found.problems.append("no transport headers in the .msg (a draft or a message never sent)")


def _read_message(budget: StorageBudget, prefix: tuple[str, ...], header_size: int,
                  found: MsgContent, depth: int) -> None:
    """Fill `found` from the message storage at `prefix` (the root, or an embedded message)."""
    props = PropertyReader(budget, prefix, header_size)
    found.header_block = props.text(0x007D)
    found.subject = props.text(0x0037)
    found.body = props.text(0x1000) or props.html_text(0x1013)
    found.sender_name = props.text(0x0C1A)
    # PR_SENDER_EMAIL_ADDRESS is an Exchange DN for internal senders; the SMTP forms come first.
    found.sender_address = next(
        (a for a in (props.text(0x5D01), props.text(0x0C1F), props.text(0x0065)) if "@" in a), "")
    found.display_to = props.text(0x0E04)
    found.display_cc = props.text(0x0E03)
    found.message_id = props.text(0x1035)
    found.submitted = _filetime(props.fixed(0x0039))
    storages = budget.children(prefix, _ATTACH_STORAGE)
    if len(storages) > MAX_ATTACHMENTS:
        found.problems.append(f"{len(storages) - MAX_ATTACHMENTS} attachments over the limit of "
                              f"{MAX_ATTACHMENTS} were not extracted")
    for name in storages[:MAX_ATTACHMENTS]:
        _read_attachment(budget, (*prefix, name), found, depth)


def _read_attachment(budget: StorageBudget, path: tuple[str, ...], found: MsgContent, depth: int) -> None:
    """A file becomes a :class:`MsgAttachment`; an embedded message is read in turn, to a depth."""
    props = PropertyReader(budget, path, _ATTACH_HEADER)
    method = props.fixed(0x3705)
    if budget.is_storage((*path, _EMBEDDED_STORAGE)):
        if method not in (None, _ATTACH_EMBEDDED_MSG):
            found.problems.append("an embedded item that is not a file was not extracted")
        elif depth >= MAX_EMBED_DEPTH:
            found.problems.append(f"a message embedded more than {MAX_EMBED_DEPTH} deep was not read")
        else:
            inner = MsgContent()
            _read_message(budget, (*path, _EMBEDDED_STORAGE), _EMBEDDED_HEADER, inner, depth + 1)
            _note_missing_headers(inner)
            found.embedded.append(inner)
        return
    data = props.binary(0x3701)
    if data is None:
        found.problems.append("an attachment without data was not extracted")
        return
    name = props.text(0x3707) or props.text(0x3704) or props.text(0x3001) or "attachment"
    found.attachments.append(MsgAttachment(name, props.text(0x370E) or None, data))


def _short(reason: object) -> str:
    """An exception or parser message, cut short: a hostile file chooses part of its text."""
    text = str(reason)
    return text if len(text) <= 200 else text[:200] + "..."


def _filetime(value: int | None) -> datetime | None:
    """A FILETIME (100 ns ticks since 1601) as an aware datetime; None when absent or absurd."""
    if not value:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return None
