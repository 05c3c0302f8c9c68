"""`stopit cases list|show`: what staff read first."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import click

from stopit_mail.case_status import CaseStatus
from stopit_mail.cli import Context, LazyCasesGroup, handle_errors, pass_ctx
from stopit_mail.commands.columns import table
from stopit_mail.commands.output import json_text, parse_since


@click.group("cases", cls=LazyCasesGroup)
def cases_group() -> None:
    """List and read cases."""


@cases_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in CaseStatus]), help="Only this status.")
@click.option("--urgency", help="Only this urgency (emergency, urgent, routine...).")
@click.option("--category", help="Only cases with this category.")
@click.option("--assignee", help="Only cases assigned to this staff member.")
@click.option("--organisation", help="Only this organisation.")
@click.option("--offender", help="Only cases whose alleged sender's address or name contains this.")
@click.option("--since", help="Opened since: 5m, 12h, 7d, 2w or an ISO date.")
@click.option("--text", help="Search titles, numbers, senders and subjects.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000), help="Cases per page.")
@click.option("--page", default=1, show_default=True, type=click.IntRange(1), help="Which page.")
@click.option("--json", "as_json", is_flag=True, help="The page's cases as a JSON list.")
@pass_ctx
@handle_errors
def list_command(state: Context, status: str | None, urgency: str | None, category: str | None,
                 assignee: str | None, organisation: str | None, offender: str | None, since: str | None,
                 text: str | None, limit: int, page: int, as_json: bool) -> None:
    """List cases, newest first, a page at a time (never a silent cap: it says how many in all)."""
    since_at = parse_since(since)
    page_of = state.call("cases.list", status=status, urgency=urgency, category=category, assignee=assignee,
                         organisation=organisation, offender=offender, text=text, limit=limit, page=page,
                         since=since_at.isoformat() if since_at else None)
    rows, total = page_of["cases"], page_of["total"]
    if as_json:
        click.echo(json_text(rows))
        return
    if not rows:
        click.echo("No cases." if total == 0 else f"No cases on page {page}: {total:,} in all.")
        return
    click.echo(table(("case", "opened", "urg.", "status", "alleged sender", "title"), [
        (row["number"], (row["opened_at"] or "")[5:16].replace("T", " "), row["urgency"][:9], row["status"],
         ", ".join(row["alleged_senders"]), row["title"]) for row in rows], shrink=(4, 5)))
    first = (page - 1) * limit + 1
    more = f"; next: --page {page + 1}" if first + len(rows) - 1 < total else ""
    click.echo(f"showing {first:,}-{first + len(rows) - 1:,} of {total:,}{more}")


@cases_group.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
@click.option("--raw", "raw_id", type=int, help="Write stored message N's original bytes.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default="-",
              help="Where --raw writes (default: standard output).")
@click.option("--reason", help="Why (required for --raw of a message that could reveal an anonymous reporter; audited).")
@pass_ctx
@handle_errors
def show_command(state: Context, number: str, as_json: bool, raw_id: int | None, output: str,
                 reason: str | None) -> None:
    """Show a case: urgency and why, the reporter's words, evidence, conversation, timeline.

    NUMBER may be the whole number (SI-2026-0042) or its tail (42, 2026-0042).
    """
    if raw_id is not None:
        raw = state.call("cases.raw", number=number, message=raw_id, reason=reason)
        content = base64.b64decode(raw["base64"])
    else:
        detail = state.call("cases.show", number=number)
    if raw_id is not None:
        if output == "-":
            sys.stdout.buffer.write(content)
        else:
            Path(output).write_bytes(content)
        return
    if as_json:
        click.echo(json_text(detail))
        return
    from stopit_mail.commands.case_view import render_case

    _page_out(render_case(detail))


def _page_out(text: str) -> None:
    """Print, through the pager (less, told to keep the styles) when a person is reading at a terminal."""
    if sys.stdout.isatty():
        click.echo_via_pager(text)
    else:
        click.echo(text)


def register(group: click.Group) -> None:
    group.add_command(cases_group)
