"""Message bytes that name an anonymous reporter are sealed at rest, opened only in memory.

The raw bytes of an anonymous report, of every message from its reporter (replies through their
alias) and the evidence recovered from it are sealed with the identity public key once
processing has decided they are anonymous; the outbox copy of mail to them never names them.
Reading them back (processing again, DKIM checks, an authorised export) opens them in memory.
On SQLite the freed pages are zeroed (`secure_delete`) and the write-ahead log is truncated
after the transaction, so a copy of the database file alone holds no reporter.
"""

from __future__ import annotations

from stopit_mail.config import Settings
from stopit_mail.models import Evidence, RawMessage
from stopit_mail.sealing import open_bytes, seal_bytes


def seal_stored_message(settings: Settings, raw: RawMessage) -> None:
    """Replace a stored message's bytes by their sealed form (idempotent)."""
    raw.content = seal_bytes(settings, raw.content)


def seal_evidence(settings: Settings, item: Evidence) -> None:
    """Seal an evidence item's bytes (they come from an anonymous report)."""
    if item.content is not None:
        item.content = seal_bytes(settings, item.content)


def message_bytes(settings: Settings, raw: RawMessage) -> bytes:
    """The bytes as received (opened in memory when sealed; needs the secret key)."""
    return open_bytes(settings, raw.content)
