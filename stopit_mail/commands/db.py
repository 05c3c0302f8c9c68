"""`stopit db upgrade|version`: the schema, changed only on purpose.

Staff commands check the schema version with one SELECT and never migrate; after installing
a new version of stopit-mail, `stopit db upgrade` (or restarting `stopit serve`) migrates.
"""

from __future__ import annotations

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx


@click.group("db")
def db_group() -> None:
    """The database schema."""


@db_group.command("upgrade")
@pass_ctx
@handle_errors
def upgrade_command(state: Context) -> None:
    """Bring the database schema to this version's newest migration."""
    from stopit_mail.db import schema_head

    state.upgraded_app()
    click.echo(f"database schema at {schema_head()}")


@db_group.command("version")
@pass_ctx
@handle_errors
def version_command(state: Context) -> None:
    """Say which migration the database is at, and which this version needs."""
    from sqlalchemy import text

    from stopit_mail.app import open_app
    from stopit_mail.db import schema_head

    app = open_app(state.config_path, migrate=False)
    try:
        with app.engine.connect() as connection:
            current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        app.close()
    click.echo(f"database: {current}; this version needs: {schema_head()}")


def register(group: click.Group) -> None:
    group.add_command(db_group)
