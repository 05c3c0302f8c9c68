"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from stopit_mail.db import make_engine, upgrade_database
from stopit_mail.models import Base


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # Full-text search lives outside the ORM's metadata: SQLite's FTS5 tables kept by triggers,
    # PostgreSQL's trigram expression indexes.
    if name is None:
        return True
    if type_ == "table":
        return not (name.startswith(("search_text", "sender_text")) or name == "alembic_version")
    return not (type_ == "index" and name.endswith("_trgm"))


def test_migrated_schema_matches_the_models(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    try:
        upgrade_database(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_object": _ours, "compare_type": False})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []
