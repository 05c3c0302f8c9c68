"""Outlook .msg files attached to a report, read as evidence.

Reporters who drag a message into a new mail in Outlook desktop attach it as a ``.msg`` file: a
Compound File with one stream per MAPI property. The transport headers (with the Received
chain) survive in PR_TRANSPORT_MESSAGE_HEADERS, so the message is evidence at completeness
``headers``: traceable, but not verifiable, because the original MIME bytes are gone.

``extract-msg`` (pure Python, maintained; GPL-3.0, installed from PyPI as a dependency, never
bundled) reads the file; nothing here raises: a damaged file gives a :class:`MsgContent` with
problems.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

_LOG = logging.getLogger(__name__)
MSG_TYPES = ("application/vnd.ms-outlook", "application/x-msg")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class MsgAttachment:
    """A file inside the .msg."""

    filename: str
    content_type: str | None
    content: bytes


@dataclass
class MsgContent:
    """What a .msg holds: its header section (as the transport wrote it), body and files."""

    header_block: str = ""
    subject: str = ""
    body: str = ""
    attachments: list[MsgAttachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def looks_like_msg(content: bytes, content_type: str | None, filename: str | None) -> bool:
    """An Outlook item: named or typed so, and a Compound File."""
    named = (filename or "").lower().endswith(".msg") or (content_type or "").lower() in MSG_TYPES
    return named and content.startswith(_OLE_MAGIC)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def read_msg(content: bytes) -> MsgContent:
    """Read a .msg; problems (a damaged file, no transport headers) are recorded, never raised."""
    import extract_msg  # imported here: only reports with a .msg pay for loading it

    found = MsgContent()
    try:
        message = extract_msg.openMsg(content)
    except Exception as exc:  # noqa: BLE001 - a damaged file is evidence with a problem, not a crash
        found.problems.append(f"unreadable .msg: {type(exc).__name__}: {exc}")
        return found
    try:
        found.header_block = _text(getattr(message, "headerText", None))
        found.subject = _text(getattr(message, "subject", None))
        found.body = _text(getattr(message, "body", None))
        for attachment in getattr(message, "attachments", []):
            data = getattr(attachment, "data", None)
            if isinstance(data, bytes):
                name = _text(attachment.longFilename) or _text(attachment.shortFilename) or "attachment"
                found.attachments.append(MsgAttachment(name, _text(attachment.mimetype) or None, data))
            else:
                found.problems.append("an embedded item that is not a file was not extracted")
    except Exception as exc:  # noqa: BLE001
        _LOG.info("reading a .msg failed part way: %s", exc)
        found.problems.append(f"partly unreadable .msg: {type(exc).__name__}: {exc}")
    finally:
        message.close()
    if not found.header_block.strip():
        found.problems.append("no transport headers in the .msg (a draft or a message never sent)")
    return found
