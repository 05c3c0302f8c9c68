"""Read a delivery status notification: which of our messages came back.

A DSN (RFC 3464) carries the returned message, or only its headers; its Message-ID threads the
bounce back to the case whose message bounced.
"""

from __future__ import annotations

import re
from email.message import Message

from stopit_mail.extract import mime

MESSAGE_ID_RE = re.compile(r"<[^<>\s]+>")


def bounced_message_ids(message: Message, defects: list[str]) -> list[str]:
    """Message-IDs of the returned message (or returned headers) inside a DSN."""
    ids: list[str] = []
    for walked in mime.walk(message, 4, 50, defects):
        part = walked.part
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            returned = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(returned, Message):
                ids.extend(MESSAGE_ID_RE.findall(mime.header(returned, "Message-ID")))
        elif content_type in ("text/rfc822-headers", "message/global-headers"):
            returned_headers = mime.parse_bytes(mime.part_bytes(part)).message
            ids.extend(MESSAGE_ID_RE.findall(mime.header(returned_headers, "Message-ID")))
    return ids
