"""`stopit audit [CASE]`: the append-only log of automatic and staff actions, in order."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.output import parse_since
from stopit_mail.textsafe import markup_safe as safe


def _summary(detail: dict[str, Any]) -> str:
    """`key=value; ...` on one line, for the table (the JSON output keeps the structure)."""
    parts = []
    for key, value in detail.items():
        if value is None or value == [] or value == {}:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        parts.append(f"{key}={' '.join(text.split())}")
    return "; ".join(parts)


@click.command("audit")
@click.argument("number", required=False)
@click.option("--actor", "by", metavar="NAME", help="Only actions by this actor (e.g. a staff name, or 'stopit').")
@click.option("--since", help="Only since: 7d, 12h, 2w or an ISO date.")
@click.option("--limit", type=click.IntRange(1), help="Only the newest N events.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def audit_command(state: Context, number: str | None, by: str | None, since: str | None, limit: int | None,
                  as_json: bool) -> None:
    """Show the audit log, oldest first: every action with its actor and time (one case with CASE)."""
    since_at = parse_since(since)
    rows = state.call("audit", number=number, actor=by, limit=limit,
                      since=since_at.isoformat() if since_at else None)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        return
    table = Table("#", "at (UTC)", "case", "actor", "by", "action", "detail")
    for row in rows:
        table.add_row(str(row["id"]), row["at"][:19].replace("T", " "), row["case"] or "", safe(row["actor"]),
                      "auto" if row["automatic"] else "staff", row["action"], safe(_summary(row["detail"]))[:100])
    Console(highlight=False).print(table if rows else "No events.")


def register(group: click.Group) -> None:
    group.add_command(audit_command)
