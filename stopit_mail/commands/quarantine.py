"""`stopit quarantine list|show|retry`: messages set aside for a person."""

from __future__ import annotations

import json
import textwrap

import click
from rich.console import Console
from rich.table import Table

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.output import JSON_OPTION, json_text, report
from stopit_mail.textsafe import markup_safe, terminal_safe


@click.group("quarantine")
def quarantine_group() -> None:
    """Messages that could not be processed, with the reason."""


@quarantine_group.command("list")
@click.option("--limit", type=int, help="Show at most this many (default: 100 in the table, all with --json).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def list_command(state: Context, limit: int | None, as_json: bool) -> None:
    """List quarantined messages of your organisations, possible emergencies first."""
    found = state.call("quarantine.list", limit=limit if limit is not None or as_json else 100)
    rows = found["messages"]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    console = Console(highlight=False)
    if not rows:
        console.print("No quarantined messages.")
        return
    urgent = [str(r["id"]) for r in rows if r["possible_emergency"]]
    if urgent:
        console.print(f"[b]POSSIBLE EMERGENCY set aside: read it now with `stopit quarantine show "
                      f"{urgent[0]}`[/b] (messages {', '.join(urgent)})")
    table = Table("id", "received", "size", "from", "subject", "reason")
    for row in rows:
        table.add_row(("! " if row["possible_emergency"] else "") + str(row["id"]),
                      (row["received_at"] or "")[:16].replace("T", " "), row["size_text"],
                      markup_safe(row["sender"] or row["mail_from"] or "-")[:40],
                      markup_safe(row["subject"] or "(no subject read)")[:50], markup_safe(row["reason"]))
    console.print(table)
    console.print(f"showing {len(rows):,} of {found['total']:,}" + (" (use --limit)" if len(rows) < found["total"] else ""))


@quarantine_group.command("show")
@click.argument("message_id", type=int)
@click.option("--reason", help="Reveal a sealed sender and its words (reveal role; audited).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def show_command(state: Context, message_id: int, reason: str | None, as_json: bool) -> None:
    """Show a stored message: sender, subject, date, size, why it was set aside, first words."""
    detail = state.call("quarantine.show", message=message_id, reason=reason)
    if as_json:
        click.echo(json_text(detail))
        return
    lines = ["POSSIBLE EMERGENCY (pre-triage matched an emergency rule): read it now" if detail["possible_emergency"]
             else "", f"message {detail['id']}: {detail['status']} ({detail['kind']}), {detail['attempts']} attempt(s)",
             f"received: {(detail['received_at'] or '')[:19].replace('T', ' ')} via {detail['source']}",
             f"date:     {detail['date'] or '-'}", f"from:     {detail['sender'] or '-'}",
             f"envelope: {detail['mail_from'] or '-'} -> {', '.join(map(str, detail['rcpt_to'] or [])) or '-'}",
             f"subject:  {detail['subject'] or '(not read)'}", f"size:     {detail['size_text']} ({detail['size']:,} bytes)",
             f"reason:   {detail['reason'] or '-'}", f"case:     {detail['case'] or '-'}"]
    if detail["defects"]:
        lines.append(f"defects:  {'; '.join(map(str, detail['defects'][:10]))}")
    if detail["preview_withheld"]:
        lines.append("words:    withheld (the message could reveal an anonymous reporter; --reason with the reveal role)")
    elif detail["preview"]:
        lines += ["first words:", textwrap.fill(detail["preview"], 78)]
    click.echo(terminal_safe("\n".join(line for line in lines if line)))


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
