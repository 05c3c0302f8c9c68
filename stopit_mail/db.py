"""Engine and session factory, one transaction per unit of work.

SQLite is tuned for durability first: WAL journal with synchronous=FULL, so a committed row
survives kill -9 and power loss before the SMTP listener answers 250. PostgreSQL is durable
by default (synchronous_commit on). The schema is owned by Alembic migrations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Insert


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Freed pages are zeroed, so bytes replaced by their sealed form leave no copy in the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; creates the SQLite folder if needed."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: a database error's text (logged, quarantined, shown) never lists the
        # statement's values, which can be a reporter's address, name or words.
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def inserts_skipping_taken(table: Table, *columns: str, returning: tuple[Any, ...] = ()) -> dict[str, Insert]:
    """An INSERT per dialect (SQLite, PostgreSQL) that skips, without an error, a row whose
    `columns` (a unique key) are already taken: one statement where a look-up and an insert
    would be two. With `returning`, only the rows inserted come back (a taken row returns none).
    Other databases have none (callers look first)."""
    statements = {"sqlite": sqlite_insert(table).on_conflict_do_nothing(index_elements=list(columns)),
                  "postgresql": pg_insert(table).on_conflict_do_nothing(index_elements=list(columns))}
    return {name: statement.returning(*returning) if returning else statement for name, statement in statements.items()}


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (CLI output reads them afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session inside one transaction: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine_url: str):  # type: ignore[no-untyped-def]
    """An Alembic Config pointing at the migrations shipped inside the package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("stopit_mail") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", engine_url.replace("%", "%%"))
    return cfg


def upgrade_database(engine: Engine) -> None:
    """Bring the schema to the newest migration (safe to run on every start)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite migrations recreate tables (batch mode); with foreign keys enforced, dropping
            # a referenced table that holds rows fails, so they are checked after, not during.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        with connection.begin():
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


_REVISION = re.compile(r"^revision = ['\"](\w+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision = ['\"](\w+)['\"]", re.MULTILINE)


def schema_head() -> str:
    """The newest migration shipped with this version: the revision no other one revises.

    Migrations are numbered by the branch that wrote them (`0007_slug.py` has revision "0007")
    and merged in any order, so the largest number is not always the head; the line is read
    from each file's `revision` / `down_revision` lines (plain text, no Alembic import, on
    every command).
    """
    folder = resources.files("stopit_mail") / "migrations" / "versions"
    revisions: set[str] = set()
    revised: set[str] = set()
    for entry in folder.iterdir():
        if not (entry.name.endswith(".py") and entry.name[:4].isdigit()):
            continue
        text_ = entry.read_text(encoding="utf-8")
        revisions.update(_REVISION.findall(text_))
        revised.update(_DOWN_REVISION.findall(text_))
    heads = sorted(revisions - revised)
    return heads[0] if len(heads) == 1 else max(revisions)


def check_schema(engine: Engine) -> None:
    """Raise SchemaOutOfDate unless the database is at this version's newest migration.

    One SELECT instead of a full Alembic upgrade: staff commands must start in well under a
    second, and only `init`, `serve`, `worker` and `stopit db upgrade` change the schema.
    """
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from stopit_mail.errors import SchemaOutOfDate

    head = schema_head()
    try:
        with engine.connect() as connection:
            current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        raise SchemaOutOfDate("the database has no stopit-mail schema yet: run `stopit init` "
                              "or `stopit db upgrade`") from None
    if current != head:
        raise SchemaOutOfDate(f"the database schema is at {current}, this stopit-mail needs {head}: "
                              "run `stopit db upgrade` (or restart `stopit serve`, which upgrades)")


def claim_writer(session: Session) -> None:
    """On SQLite, take the database write lock before reading what to work on.

    pysqlite starts a transaction only at the first write, so two processes (a server and a
    `stopit ingest`, say) could both read "received" and both process the same message. A
    no-op UPDATE as the first statement takes the write lock at once (waiting up to
    busy_timeout), and everything read after it in the transaction is current. PostgreSQL
    uses row locks (FOR UPDATE SKIP LOCKED) instead, so this does nothing there.
    """
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        session.execute(text("UPDATE raw_messages SET attempts = attempts WHERE id = -1"))


@contextmanager
def relaxed_commit(session: Session) -> Iterator[None]:
    """Commit what happens inside without waiting for the disk (SQLite synchronous=NORMAL,
    PostgreSQL synchronous_commit off).

    In WAL mode such a commit survives a crash or kill -9 of the process, only not a power
    loss, and the next durable commit syncs it too. For bookkeeping whose loss on power failure
    is harmless (a processing attempt counted, a lease taken) that halves the fsyncs per
    message. The session must be outside a transaction; the pragma is restored afterwards.
    """
    dialect = session.get_bind().dialect.name
    relaxed = dialect == "sqlite"
    # Driver SQL, not text(): no statement to build and compile per claim.
    if relaxed:
        session.connection().exec_driver_sql("PRAGMA synchronous=NORMAL")
    elif dialect == "postgresql":
        # The same on PostgreSQL: the commit is not waited for on disk; the next synchronous
        # commit (WAL is sequential) makes it durable too.
        session.connection().exec_driver_sql("SET LOCAL synchronous_commit = off")
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        if relaxed:
            session.connection().exec_driver_sql("PRAGMA synchronous=FULL")
            session.commit()
