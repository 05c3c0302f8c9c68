"""`stopit cases search`: find cases by their words, through the service's full-text index.

Apart from the casework commands so that a search loads nothing but click and the API client
(classify's choices import the triage rules).
"""

from __future__ import annotations

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.commands.columns import table
from stopit_mail.commands.output import json_text


@cases_group.command("search")
@click.argument("text")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def search_command(state: Context, text: str, limit: int, as_json: bool) -> None:
    """Find cases by words in titles, reports, evidence subjects and bodies, senders and notes."""
    rows = state.call("cases.search", text=text, limit=limit)
    if as_json:
        click.echo(json_text(rows))
        return
    if not rows:
        click.echo("No matching cases.")
        return
    click.echo(table(("case", "status", "org", "title", "matched in", "snippet"), [
        (row["number"], row["status"], row["organisation"], row["title"],
         ", ".join(m["field"] for m in row["matches"]), row["matches"][0]["snippet"]) for row in rows],
        shrink=(3, 4, 5)))


def register(group: click.Group) -> None:
    """The command attaches itself to `cases` on import; nothing more to add."""
