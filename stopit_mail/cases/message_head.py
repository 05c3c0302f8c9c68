"""The head of a stored message (From, Date, Subject, first words), read from its first bytes only.

A message set aside before it was parsed (too big, quarantined early) has no stored subject,
yet its subject can ask for anonymity and its sender is who reported: the identity gate and the
quarantine view read it here, the same way. Only the first HEAD_BYTES are parsed (a set-aside
message is often a huge or hostile one), and sealed bytes are never opened to read a head.
"""

from __future__ import annotations

from stopit_mail.config import Settings
from stopit_mail.extract import mime
from stopit_mail.sealing import IdentityKeyError, is_sealed_bytes, open_bytes

HEAD_BYTES = 64 * 1024
PREVIEW_CHARS = 1500
_NOTHING = {"sender": "", "date": "", "subject": "", "preview": ""}


def parse_head(content: bytes) -> dict[str, str]:
    """From, Date, Subject and the first words of readable bytes, from their first HEAD_BYTES."""
    parsed = mime.parse_bytes(content[:HEAD_BYTES])
    senders = mime.addresses(parsed.message, "From")
    name, address = senders[0] if senders else ("", "")
    defects: list[str] = []
    try:
        text = mime.body_text(parsed.message, 4, 20, defects)
    except (LookupError, ValueError, UnicodeError):
        text = ""
    return {"sender": f"{name} <{address}>" if name and address else (address or name),
            "date": mime.header(parsed.message, "Date"), "subject": mime.header(parsed.message, "Subject")[:500],
            "preview": " ".join(text.split())[:PREVIEW_CHARS]}


def read_head(content: bytes) -> dict[str, str]:
    """`parse_head` of stored bytes; nothing for sealed or empty ones (never unsealed for this)."""
    if not content or is_sealed_bytes(content):
        return dict(_NOTHING)
    return parse_head(content)


def stored_subject(content: bytes) -> str:
    """The Subject of stored bytes read from their head ("" when sealed, empty or unreadable)."""
    return read_head(content)["subject"]


def opened_head(settings: Settings, content: bytes) -> dict[str, str]:
    """`read_head` of stored bytes, opening bytes sealed at the 250 in memory first.

    For callers that already know the message may be shown (or must decide whether it asked for
    anonymity); raises IdentityKeyError when sealed bytes cannot be opened (key missing, or only
    a prefix of them was loaded).
    """
    if is_sealed_bytes(content):
        content = open_bytes(settings, content)
    return read_head(content)


class StoredHead:
    """The head of one stored message, opened (in memory, when sealed at the 250) at most once.

    The identity gate (did it ask for anonymity?) and the view that shows it (From, Subject,
    first words) both need it; one instance passed to both opens a sealed message once. `get`
    raises IdentityKeyError every time when the bytes cannot be opened.
    """

    def __init__(self, settings: Settings, content: bytes) -> None:
        self._settings = settings
        self._content: bytes | None = content
        self._head: dict[str, str] | None = None
        self._error: IdentityKeyError | None = None

    def get(self) -> dict[str, str]:
        """`opened_head` of the content, computed on the first call."""
        if self._error is not None:
            raise self._error
        if self._head is None:
            try:
                self._head = opened_head(self._settings, self._content or b"")
            except IdentityKeyError as exc:
                self._error = exc
                raise
            finally:
                self._content = None  # the (possibly large) bytes are not kept once read
        return dict(self._head)
