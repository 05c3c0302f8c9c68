"""`stopit key check|backup|rotate`: the identity key, which a lost database backup cannot replace.

Rotation needs the `admin` role when staff are configured: it rewrites every sealed value.
"""

from __future__ import annotations

from pathlib import Path

import click

from stopit_mail import events, keys
from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.output import JSON_OPTION, report
from stopit_mail.db import transaction


@click.group("key")
def key_group() -> None:
    """Check, back up or rotate the key that seals anonymous reporters."""


@key_group.command("check")
@JSON_OPTION
@pass_ctx
@handle_errors
def check_command(state: Context, as_json: bool) -> None:
    """Say whether sealing and revealing work; exit 1 when anything is wrong."""
    with transaction(state.app.factory) as session:
        status = keys.prepare(state.app.settings, session)
    report({"key_id": status.key_id, "can_seal": status.can_seal, "can_reveal": status.can_reveal,
            "problems": status.problems, "summary": status.summary()}, as_json, status.summary())
    if status.problems:
        raise SystemExit(1)


@key_group.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@JSON_OPTION
@pass_ctx
@handle_errors
def backup_command(state: Context, destination: Path, as_json: bool) -> None:
    """Copy the secret key to DESTINATION (keep it apart from the database backups); admin role."""
    state.admin()
    key_id = keys.backup(state.app.settings, destination)
    report({"key_id": key_id, "written_to": str(destination)}, as_json,
           f"identity key {key_id} written to {destination} (mode 0600). Store it offline, apart from "
           "the database: without it no anonymous reporter can be revealed or written to.")


@key_group.command("rotate")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@JSON_OPTION
@pass_ctx
@handle_errors
def rotate_command(state: Context, yes: bool, as_json: bool) -> None:
    """Make a new key and re-seal every sealed identity, address and message with it."""
    actor = state.actor
    actor.check_role("admin")
    if not yes:
        click.confirm("Re-seal everything with a new identity key?", abort=True)
    with transaction(state.app.factory) as session:
        key_id, count = keys.rotate(state.app.settings, session)
        events.record(session, "identity-key-rotated", None, actor=actor.name, automatic=False,
                      key_id=key_id, resealed=count)
    report({"key_id": key_id, "resealed": count}, as_json,
           f"new identity key {key_id}; {count} sealed value(s) re-sealed. Back it up now: stopit key backup FILE")


def register(group: click.Group) -> None:
    group.add_command(key_group)
