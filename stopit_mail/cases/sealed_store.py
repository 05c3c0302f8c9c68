"""Message bytes that name an anonymous reporter are sealed at rest, opened only in memory.

Every stored message is sealed at the 250 (`ingest.atrest`); the raw bytes of an anonymous
report, of every message from its reporter (replies through their alias) and the evidence
recovered from it stay sealed once processing has decided they are anonymous, while ordinary
messages are stored readable again; the outbox copy of mail to them never names them.
Reading them back (processing again, DKIM checks, an authorised export) opens them in memory.
On SQLite the freed pages are zeroed (`secure_delete`) and the write-ahead log is truncated
after the transaction, so a copy of the database file alone holds no reporter.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from stopit_mail.cases.aliases import resolve
from stopit_mail.cases.anonymity import side_is_sealed
from stopit_mail.cases.dedup import normalise_message_id
from stopit_mail.config import Settings
from stopit_mail.models import Evidence, OutboxMessage, RawMessage
from stopit_mail.sealing import SEALED_PREFIX, open_bytes, seal_bytes

log = logging.getLogger(__name__)


def seal_stored_message(settings: Settings, content: bytes) -> bytes:
    """A stored message's bytes in their sealed form (idempotent), for its row's `content`."""
    return seal_bytes(settings, content)


def seal_evidence(settings: Settings, item: Evidence) -> None:
    """Seal an evidence item's bytes (they come from an anonymous report)."""
    if item.content is not None:
        item.content = seal_bytes(settings, item.content)


def message_bytes(settings: Settings, raw: RawMessage) -> bytes:
    """The bytes as received (opened in memory when sealed; needs the secret key)."""
    return open_bytes(settings, raw.content)


def _checkpoint(engine: Engine) -> None:
    with engine.connect() as connection:
        # Short wait: a busy reader only postpones the scrub to a later checkpoint.
        connection.exec_driver_sql("PRAGMA busy_timeout=500")
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.exec_driver_sql("PRAGMA busy_timeout=30000")


def scrub_log_after_commit(session: Session) -> None:
    """After this transaction commits, truncate SQLite's write-ahead log.

    The clear bytes the listener stored before processing sealed them are still in old WAL
    frames; secure_delete zeroes the freed pages, and a TRUNCATE checkpoint drops the old frames.
    PostgreSQL needs none of this here (its WAL is the server's, protected like its data files).
    """
    bind = session.get_bind()
    engine = bind.engine if hasattr(bind, "engine") else bind
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return

    scrubbed = False

    def _after(committed: Session) -> None:
        nonlocal scrubbed
        if scrubbed or committed.in_nested_transaction():
            return  # a savepoint was released: the transaction (and its read lock) goes on
        scrubbed = True
        try:
            _checkpoint(engine)
        except OperationalError as exc:
            log.info("WAL scrub postponed: %s", exc)

    # Not `once`: SQLAlchemy reports a released savepoint as a commit too.
    event.listen(session, "after_commit", _after)


def sealed_row(session: Session, settings: Settings, content: bytes, mail_from: str | None) -> dict[str, object]:
    """Column values that seal a stored message at rest: sealed bytes, no envelope sender, no peer,
    no Message-ID (their client writes it, and it can name them: their domain, their machine).

    The caller writes them on the row; the write-ahead log is scrubbed after that commit.
    """
    scrub_log_after_commit(session)
    return {"content": seal_stored_message(settings, content), "peer": None, "message_id": None,
            "mail_from": "[sealed]" if mail_from else mail_from}


def is_sealed_side(session: Session, alias_codes: list[str], bounced_ids: list[str]) -> bool:
    """Whether a message came back from an anonymous reporter's side: an out-of-office answer
    to their alias, or a bounce of mail we sent them (its recipient was sealed)."""
    if any(side_is_sealed(session, t.alias) for t in (resolve(session, c) for c in alias_codes) if t):
        return True
    if not bounced_ids:
        return False
    keys = [f"<{normalise_message_id(i)}>" for i in bounced_ids]
    rows = session.scalars(select(OutboxMessage.recipients).where(OutboxMessage.message_id.in_(keys)))
    return any(str(r).startswith(SEALED_PREFIX) for recipients in rows for r in recipients)


def seal_if_sealed_side(session: Session, settings: Settings, content: bytes, mail_from: str | None,
                        alias_codes: list[str], bounced_ids: list[str]) -> dict[str, object]:
    """The row values sealing a message from an anonymous reporter's side at rest ({} otherwise)."""
    if not is_sealed_side(session, alias_codes, bounced_ids):
        return {}
    return sealed_row(session, settings, content, mail_from)
