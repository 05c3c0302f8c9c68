"""Message bytes that name an anonymous reporter are sealed at rest, opened only in memory.

The raw bytes of an anonymous report, of every message from its reporter (replies through their
alias) and the evidence recovered from it are sealed with the identity public key once
processing has decided they are anonymous; the outbox copy of mail to them never names them.
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

    def _after(_session: Session) -> None:
        try:
            _checkpoint(engine)
        except OperationalError as exc:
            log.info("WAL scrub postponed: %s", exc)

    event.listen(session, "after_commit", _after, once=True)


def seal_if_sealed_side(session: Session, settings: Settings, raw: RawMessage, alias_codes: list[str],
                        bounced_ids: list[str]) -> bool:
    """Seal a stored message that came back from an anonymous reporter's side (an out-of-office
    answer to their alias, a bounce of mail we sent them); True when sealed."""
    sealed_side = any(side_is_sealed(session, t.alias) for t in (resolve(session, c) for c in alias_codes) if t)
    if not sealed_side and bounced_ids:
        keys = [f"<{normalise_message_id(i)}>" for i in bounced_ids]
        rows = session.scalars(select(OutboxMessage.recipients).where(OutboxMessage.message_id.in_(keys)))
        sealed_side = any(str(r).startswith(SEALED_PREFIX) for recipients in rows for r in recipients)
    if sealed_side:
        raw.mail_from = "[sealed]" if raw.mail_from else raw.mail_from
        raw.peer = None
        seal_stored_message(settings, raw)
        scrub_log_after_commit(session)
    return sealed_side
