"""Find cases by a fragment of an alleged sender's address or name (`cases list --offender`) by index.

"Contains" cannot use an ordinary index, and at a million cases the scan of every alleged
sender takes seconds. SQLite: an FTS5 trigram table `sender_text`, one row per alleged-sender
party (rowid = the party's id), kept by triggers (migration 0013); it narrows the parties to
the few whose text holds the fragment's trigrams, and the usual LIKE then checks them exactly,
so the answer is the one the scan gave. PostgreSQL: trigram GIN indexes on the same two
lower-cased columns serve the LIKE directly (migration 0013).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, and_, func, or_, text
from sqlalchemy.orm import Session

from stopit_mail.models import Party

ALLEGED_SENDER = "alleged-sender"
MIN_CHARS = 3
_BODY = "coalesce({r}address, '') || char(10) || coalesce({r}display_name, '')"
_TRIGGERS = ("sender_text_ai", "sender_text_au", "sender_text_ad")


def sqlite_statements() -> list[str]:
    """Create the table and its triggers (SQLite); `backfill_statements` fills it."""
    insert = (f"INSERT INTO sender_text(rowid, body, case_id) SELECT new.id, {_BODY.format(r='new.')}, new.case_id "
              f"WHERE new.role = '{ALLEGED_SENDER}';")
    delete = "DELETE FROM sender_text WHERE rowid = old.id;"
    return ["CREATE VIRTUAL TABLE IF NOT EXISTS sender_text USING fts5(body, case_id UNINDEXED, tokenize='trigram')",
            f"CREATE TRIGGER IF NOT EXISTS sender_text_ai AFTER INSERT ON parties BEGIN {insert} END",
            f"CREATE TRIGGER IF NOT EXISTS sender_text_au AFTER UPDATE ON parties BEGIN {delete} {insert} END",
            f"CREATE TRIGGER IF NOT EXISTS sender_text_ad AFTER DELETE ON parties BEGIN {delete} END"]


def backfill_statements() -> list[str]:
    """Refill the table from `parties` (SQLite)."""
    return ["DELETE FROM sender_text",
            f"INSERT INTO sender_text(rowid, body, case_id) SELECT id, {_BODY.format(r='')}, case_id FROM parties "
            f"WHERE role = '{ALLEGED_SENDER}'"]


def postgresql_statements() -> list[str]:
    """The trigram indexes that serve the LIKE on PostgreSQL."""
    return [f"CREATE INDEX IF NOT EXISTS ix_parties_{column}_trgm ON parties USING gin (lower({column}) gin_trgm_ops)"
            for column in ("address", "display_name")]


def ensure(connection: Connection) -> bool:
    """Re-create the SQLite triggers if a batch migration rebuilt `parties`, and refill; True if it had to."""
    if connection.dialect.name != "sqlite":
        return False
    present = set(connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE name IN ('sender_text', 'sender_text_ai', 'sender_text_au', "
        "'sender_text_ad')").scalars())
    if present >= {"sender_text", *_TRIGGERS}:
        return False
    for statement in [*sqlite_statements(), *backfill_statements()]:
        connection.exec_driver_sql(statement)
    return True


def senders_matching(session: Session, fragment: str) -> ColumnElement[bool]:
    """A WHERE clause on `parties`: alleged senders whose address or name contains `fragment` (any case)."""
    like = f"%{fragment.lower()}%"
    exact = and_(Party.role == ALLEGED_SENDER,
                 or_(func.lower(Party.address).like(like), func.lower(Party.display_name).like(like)))
    if len(fragment) < MIN_CHARS or session.get_bind().dialect.name != "sqlite":
        return exact
    phrase = '"' + fragment.replace('"', '""') + '"'
    narrowed = text("SELECT rowid FROM sender_text WHERE sender_text MATCH :sender_phrase").bindparams(
        sender_phrase=phrase)
    return and_(Party.id.in_(narrowed), exact)

