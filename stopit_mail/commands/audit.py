"""`stopit audit [CASE]`: the append-only log of automatic and staff actions, in order."""

from __future__ import annotations

import json
from typing import Any

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.columns import table
from stopit_mail.commands.output import json_text, parse_since

# The whole log (no CASE) shows this many newest events unless told otherwise: at a million
# cases it holds millions, which took minutes to print and ran past the client's time limit.
DEFAULT_LIMIT = 1000


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
@click.option("--limit", type=click.IntRange(1),
              help=f"Only the newest N events (without CASE: {DEFAULT_LIMIT:,} unless --all).")
@click.option("--all", "everything", is_flag=True, help="Every event, however many.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def audit_command(state: Context, number: str | None, by: str | None, since: str | None, limit: int | None,
                  everything: bool, as_json: bool) -> None:
    """Show the audit log, oldest first: every action with its actor and time (one case with CASE)."""
    since_at = parse_since(since)
    cap = None if everything or number or limit else DEFAULT_LIMIT
    rows = state.call("audit", number=number, actor=by, limit=cap + 1 if cap else limit,
                      since=since_at.isoformat() if since_at else None)
    if cap is not None and len(rows) > cap:
        rows = rows[1:]  # the newest `cap`, still oldest first; never a silent cap:
        click.echo(f"showing the newest {cap:,} events; --limit N or --all for more, --since or CASE to narrow",
                   err=True)
    if as_json:
        click.echo(json_text(rows))
        return
    if not rows:
        click.echo("No events.")
        return
    click.echo(table(("#", "at (UTC)", "case", "actor", "by", "action", "detail"), [
        (row["id"], row["at"][:19].replace("T", " "), row["case"] or "", row["actor"],
         "auto" if row["automatic"] else "staff", row["action"], _summary(row["detail"])) for row in rows],
        shrink=(6, 3), right=(0,)))


def register(group: click.Group) -> None:
    group.add_command(audit_command)
