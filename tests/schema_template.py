"""New SQLite installations in the tests start from a copy of one freshly migrated database.

Every installation the suite makes (`make_installation`, `stopit init` in-process, the web and
casework helpers) runs `open_app`, which brings the schema to the newest migration: some fifty
batch table rebuilds on SQLite, about a second of CPU, hundreds of times per run. The result
is the same file every time, so the first one in each test process is migrated for real (by
`stopit_mail.db.upgrade_database`, nothing else) and kept; a later installation whose database
file does not exist yet starts as a byte copy of it, and `upgrade_database` then still runs on
that copy (finding it at the head) before `open_app` goes on exactly as before: search-index and
rollup checks, identity key. On PostgreSQL the same holds with `CREATE DATABASE ... TEMPLATE`:
an installation on an empty test database (one the `pg_database` fixture made) gets it
re-created from a template database migrated for real once per test process.

What keeps migrating for real: tests/test_migrations.py, test_rollups.py and test_scale_queries.py
(they call `stopit_mail.db.upgrade_database` themselves), any upgrade of a file that already
exists (older schemas, `stopit db upgrade`), every PostgreSQL database that is not empty or not
a test's own, and every `stopit serve` / `worker` subprocess. STOPIT_TEST_MIGRATE_EACH=1 turns the copy off, to run the whole suite the old way.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.engine import URL, make_url

import stopit_mail.app
from stopit_mail.db import make_engine, upgrade_database

_TEMPLATE: list[Path] = []  # the migrated file of this process, once made
_PG_TEMPLATE: list[str] = []  # the migrated PostgreSQL database of this process, once made
TEST_DATABASE_PREFIX = "stopit_test_"  # conftest.pg_database's names


def _template() -> Path:
    if not _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="stopit-schema-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = folder / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        try:
            upgrade_database(engine)
            with engine.connect() as connection:
                # Everything into the main file, so that file alone is the whole database.
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            engine.dispose()
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


def _new_sqlite_file(engine: Engine) -> Path | None:
    """The database file of `engine` if it is SQLite on a file that does not exist yet."""
    url = make_url(engine.url)
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    return None if path.exists() else path


def _admin(url: URL) -> Engine:
    return create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def _pg_template(url: URL) -> str:
    if not _PG_TEMPLATE:
        name = f"stopit_template_{uuid.uuid4().hex[:12]}"
        admin = _admin(url)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()

        atexit.register(drop)
        engine = make_engine(url.set(database=name).render_as_string(hide_password=False))
        try:
            upgrade_database(engine)
        finally:
            engine.dispose()  # a template must have no connections when it is copied
        _PG_TEMPLATE.append(name)
    return _PG_TEMPLATE[0]


def _empty_test_database(engine: Engine) -> bool:
    """True if `engine` is on one of the tests' own PostgreSQL databases and it has no tables."""
    if engine.dialect.name != "postgresql" or not (engine.url.database or "").startswith(TEST_DATABASE_PREFIX):
        return False
    with engine.connect() as connection:
        return not inspect(connection).get_table_names()


def upgrade_from_template(engine: Engine) -> None:
    """`upgrade_database`, starting a database that does not exist yet (or is empty) from a migrated copy."""
    target = _new_sqlite_file(engine)
    if target is not None:
        engine.dispose()  # nothing may hold the file we are about to create
        shutil.copyfile(_template(), target)
    elif _empty_test_database(engine):
        template = _pg_template(engine.url)
        engine.dispose()
        admin = _admin(engine.url)
        try:
            with admin.connect() as connection:
                name = engine.url.database
                connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
                connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            admin.dispose()
    upgrade_database(engine)


def install_schema_template() -> None:
    """Route `open_app`'s schema upgrade through the template (unless STOPIT_TEST_MIGRATE_EACH)."""
    if os.environ.get("STOPIT_TEST_MIGRATE_EACH"):
        return
    stopit_mail.app.upgrade_database = upgrade_from_template  # type: ignore[assignment]
