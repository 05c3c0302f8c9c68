"""New SQLite installations in the tests start from a copy of one freshly migrated database.

Every installation the suite makes (`make_installation`, `stopit init` in-process, the web and
casework helpers) runs `open_app`, which brings the schema to the newest migration: some fifty
batch table rebuilds on SQLite, about a second of CPU, hundreds of times per run. The result
is the same file every time, so the first one in each test process is migrated for real (by
`stopit_mail.db.upgrade_database`, nothing else) and kept; a later installation whose database
file does not exist yet starts as a byte copy of it, and `upgrade_database` then still runs on
that copy (finding it at the head) before `open_app` goes on exactly as before: search-index and
rollup checks, identity key.

What keeps migrating for real: tests/test_migrations.py, test_rollups.py and test_scale_queries.py
(they call `stopit_mail.db.upgrade_database` themselves), any upgrade of a file that already
exists (older schemas, `stopit db upgrade`), PostgreSQL, and every `stopit serve` / `worker`
subprocess. STOPIT_TEST_MIGRATE_EACH=1 turns the copy off, to run the whole suite the old way.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

import stopit_mail.app
from stopit_mail.db import make_engine, upgrade_database

_TEMPLATE: list[Path] = []  # the migrated file of this process, once made


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


def upgrade_from_template(engine: Engine) -> None:
    """`upgrade_database`, starting a database that does not exist yet from the migrated copy."""
    target = _new_sqlite_file(engine)
    if target is not None:
        engine.dispose()  # nothing may hold the file we are about to create
        shutil.copyfile(_template(), target)
    upgrade_database(engine)


def install_schema_template() -> None:
    """Route `open_app`'s schema upgrade through the template (unless STOPIT_TEST_MIGRATE_EACH)."""
    if os.environ.get("STOPIT_TEST_MIGRATE_EACH"):
        return
    stopit_mail.app.upgrade_database = upgrade_from_template  # type: ignore[assignment]
