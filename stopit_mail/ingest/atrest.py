"""Seal every message at the 250: its bytes and envelope are never stored readable.

Whether a report is anonymous is only known once it has been processed, and until then its
reporter's address, name and words would sit in the raw store (and SQLite's write-ahead log)
in clear. So every store path (listener, imports, the web door) seals the bytes and the envelope
sender and peer with the identity PUBLIC key before the commit that answers 250: the storing
process never needs, nor holds, the secret key. The worker opens them in memory; a message it
finds not anonymous is stored readable again with its status (`processing.runner`), an
anonymous one stays sealed as stored.

An emergency is no exception: its bytes and envelope are sealed like every other message's.
The store-time pre-triage, which reads the plaintext in memory before sealing, keeps its page
facts in their own column (`cases.page_facts`: the rules that fired, where, when and who is at
risk as far as the report says; never who reported), and the message is claimed before
anything else. Should the secret key be lost, the worker cannot open it: it is set aside, and
the chain is paged from those facts (`emergency_fallback`). A lost key stops the processing of
every sealed message until it is back, never a page.

Without even a public key (an installation whose key was never created) the message is stored
readable rather than refused: losing mail is worse, and the start-up check says so loudly.
"""

from __future__ import annotations

import logging
import os
import threading

from stopit_mail import sealing
from stopit_mail.config import Settings

log = logging.getLogger(__name__)


class AtRest:
    """Seals what the raw store writes; re-reads `identity.pub` when `stopit key rotate` changes it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._public: bytes | None = None
        self._warned = False

    def public(self) -> bytes | None:
        """The public key to seal with, or None (logged once) when there is none at all."""
        path = sealing.public_key_path(self.settings)
        try:
            info = os.stat(path)
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if self._public is None or stamp != self._stamp:
                try:
                    self._public = sealing.public_key(self.settings)
                    self._stamp = stamp
                except sealing.IdentityKeyError as exc:
                    self._public = None
                    if not self._warned:
                        log.critical("messages are stored UNSEALED until an identity key exists: %s", exc)
                        self._warned = True
            return self._public

    def row(self, content: bytes, mail_from: str | None, peer: str | None) -> dict[str, object]:
        """The `content`, `mail_from` and `peer` column values of a message about to be stored."""
        public = self.public()
        if public is None:
            return {"content": content, "mail_from": mail_from, "peer": peer}
        sealed, envelope = sealing.seal_many(public, content, sealing.envelope_bytes(mail_from, peer))
        return {"content": sealing.BYTES_MAGIC + sealed, "mail_from": sealing.envelope_text(envelope), "peer": None}
