"""`stopit quarantine list|show|retry`: messages set aside for a person."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.output import JSON_OPTION, report
from stopit_mail.textsafe import markup_safe, terminal_safe


@click.group("quarantine")
def quarantine_group() -> None:
    """Messages that could not be processed, with the reason."""


@quarantine_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def list_command(state: Context, as_json: bool) -> None:
    """List quarantined messages."""
    rows = state.call("quarantine.list")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "received", "source", "size", "subject", "reason")
    for row in rows:
        table.add_row(str(row["id"]), (row["received_at"] or "")[:16], row["source"], str(row["size"]),
                      markup_safe(row["subject"])[:40], markup_safe(row["reason"]))
    Console(highlight=False).print(table if rows else "No quarantined messages.")


@quarantine_group.command("show")
@click.argument("message_id", type=int)
@click.option("--reason", help="Reveal a sealed envelope (reveal role; audited).")
@pass_ctx
@handle_errors
def show_command(state: Context, message_id: int, reason: str | None) -> None:
    """Show a stored message's envelope, status, reason and defects (JSON)."""
    detail = state.call("quarantine.show", message=message_id, reason=reason)
    click.echo(terminal_safe(json.dumps(detail, indent=2, ensure_ascii=False)))


@quarantine_group.command("retry")
@click.argument("message_ids", type=int, nargs=-1, required=True)
@JSON_OPTION
@pass_ctx
@handle_errors
def retry_command(state: Context, message_ids: tuple[int, ...], as_json: bool) -> None:
    """Process quarantined messages again (after a fix or configuration change); admin role."""
    for message_id in message_ids:
        done = state.call("quarantine.retry", message=message_id)
        result = f"case {done['case']}" if done["case"] else terminal_safe(done["reason"] or "")
        report(done, as_json, f"{message_id}: {done['status']} {result}".rstrip())


def register(group: click.Group) -> None:
    group.add_command(quarantine_group)
