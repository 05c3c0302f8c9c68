"""`stopit init`: write a commented stopit.toml with working defaults and create the database."""

from __future__ import annotations

from pathlib import Path

import click

from stopit_mail.app import init_installation
from stopit_mail.cli import handle_errors
from stopit_mail.config import load_settings
from stopit_mail.errors import StopitError


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--organisation", default="Example University", show_default=True, help="Organisation name.")
@click.option("--mailbox", default="stopit@example.edu", show_default=True, help="Reporting address.")
@click.option("--database-url", default="", help="SQLAlchemy URL (default: SQLite in the data folder).")
@click.option("--force", is_flag=True, help="Overwrite an existing stopit.toml.")
@handle_errors
def init_command(directory: str, organisation: str, mailbox: str, database_url: str, force: bool) -> None:
    """Create DIRECTORY/stopit.toml (kept if present) and its database."""
    existed = (Path(directory) / "stopit.toml").exists()
    path = init_installation(directory, organisation, mailbox, database_url, force)
    verb = "kept existing" if existed and not force else "wrote"
    click.echo(f"{verb} {path}; database ready.\n"
               f"Next: stopit -c {path} serve   (the mailbox on {_listen(path)}), "
               f"or stopit -c {path} ingest FILE...")


def _listen(path: Path) -> str:
    try:
        return load_settings(path).server.listen
    except StopitError:
        return "the configured address"


def register(group: click.Group) -> None:
    group.add_command(init_command)
