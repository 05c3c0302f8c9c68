"""Store an inbound message byte for byte, with its envelope, before anything else happens.

This is the one place that decides whether a message is safe: once `store_raw` has committed,
the message survives a crash and will be processed exactly once. Identical bytes are stored
once (SHA-256 is unique), which makes re-ingesting a file or an SMTP retry harmless.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.cases.pretriage import Prioritise, Verdict
from stopit_mail.errors import MessageTooLarge, StorageError
from stopit_mail.ingest.atrest import AtRest
from stopit_mail.models import RawMessage

SOURCES = ("smtp", "lmtp", "file", "mbox", "maildir", "stdin", "web")

__all__ = ["SOURCES", "Envelope", "Prioritise", "StoreResult", "sha256_hex", "store_raw"]


@dataclass
class Envelope:
    """Where a message came from: SMTP envelope and the import source."""

    source: str
    mail_from: str | None = None
    rcpt_to: list[str] = field(default_factory=list)
    peer: str | None = None
    source_ref: str | None = None
    # False for historical imports (`stopit ingest --no-ack`): old reporters are not mailed.
    acknowledge: bool = True


@dataclass(frozen=True)
class StoreResult:
    """The stored row's id and whether this call created it (False: already stored)."""

    raw_id: int
    created: bool


def sha256_hex(content: bytes) -> str:
    """Hex SHA-256 of message bytes (the deduplication key)."""
    return hashlib.sha256(content).hexdigest()


def store_raw(
    factory: sessionmaker[Session], content: bytes, envelope: Envelope, max_bytes: int | None = None,
    prioritise: Prioritise | None = None, at_rest: AtRest | None = None,
) -> StoreResult:
    """Durably commit `content`; return the existing row when these exact bytes are known.

    With `at_rest` (every production path) the bytes and envelope are sealed before the commit,
    after the pre-triage has read them in memory (`prioritise`: the claim priority and, for an
    emergency, the page facts stored beside the sealed bytes).

    Raises MessageTooLarge above `max_bytes` and StorageError when the database cannot
    commit (the SMTP listener turns that into 451 so the sender retries).
    """
    if envelope.source not in SOURCES:
        raise ValueError(f"unknown source {envelope.source!r}")
    if max_bytes is not None and len(content) > max_bytes:
        raise MessageTooLarge(f"message is {len(content)} bytes, the limit is {max_bytes}")
    digest = sha256_hex(content)
    verdict = prioritise(content, envelope.mail_from) if prioritise is not None else Verdict()
    stored = at_rest.row(content, envelope.mail_from, envelope.peer) if at_rest is not None else \
        {"content": content, "mail_from": envelope.mail_from, "peer": envelope.peer}
    try:
        with factory() as session:
            existing = session.scalar(select(RawMessage.id).where(RawMessage.sha256 == digest))
            if existing is not None:
                return StoreResult(existing, False)
            row = RawMessage(
                sha256=digest,
                size=len(content),
                source=envelope.source,
                source_ref=envelope.source_ref,
                rcpt_to=list(envelope.rcpt_to),
                **stored,
                priority=verdict.priority,
                page_facts=verdict.facts,
                no_ack=not envelope.acknowledge,
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                # Another process stored the same bytes between our check and our insert.
                session.rollback()
                existing = session.scalar(select(RawMessage.id).where(RawMessage.sha256 == digest))
                if existing is None:
                    raise
                return StoreResult(existing, False)
            return StoreResult(row.id, True)
    except (OperationalError, IntegrityError) as exc:
        raise StorageError(f"could not store message: {exc.__class__.__name__}: {exc.orig}") from exc
