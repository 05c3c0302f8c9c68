"""`stopit offenders list|show|link`: the same alleged sender across cases."""

from __future__ import annotations

import json

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.columns import table
from stopit_mail.commands.output import JSON_OPTION, json_text, report
from stopit_mail.textsafe import terminal_safe as safe


@click.group("offenders")
def offenders_group() -> None:
    """Repeat alleged senders: their cases and the notices they were sent."""


@offenders_group.command("list")
@click.option("--min-cases", default=2, show_default=True, type=click.IntRange(1), help="Senders with at least this many cases.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def list_command(state: Context, min_cases: int, limit: int, as_json: bool) -> None:
    """Alleged senders named in the most cases."""
    rows = state.call("offenders.list", min_cases=min_cases, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No sender is named in {min_cases} or more cases.")
        return
    click.echo(table(("alleged sender", "cases", "notices", "last case"), [
        (row["address"], f"{row['cases']:,}", f"{row['notices']:,}", (row["last_case_opened"] or "")[:10])
        for row in rows], shrink=(0,), right=(1, 2)))


@offenders_group.command("show")
@click.argument("address")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def show_command(state: Context, address: str, as_json: bool) -> None:
    """One alleged sender's cases, the names they used, and every notice sent to them."""
    history = state.call("offenders.show", address=address)
    if as_json:
        click.echo(json_text(history))
        return
    click.echo(f"{click.style(safe(history['address']), bold=True)}  names used: "
               f"{safe(', '.join(history['names']) or '-')}\n")
    click.echo(table(("case", "opened", "status", "title"), [
        (row["number"], (row["opened_at"] or "")[:10], row["status"], row["title"]) for row in history["cases"]],
        shrink=(3,), title="Cases"))
    click.echo()
    click.echo(table(("case", "queued", "sent", "status"), [
        (row["case"], (row["queued_at"] or "")[:16], (row["sent_at"] or "-")[:16], row["status"])
        for row in history["notices"]], title="Notices") if history["notices"]
        else "No notice has been sent to this address.")


@offenders_group.command("link")
@click.argument("number")
@click.argument("other")
@click.option("--reason", required=True, help="Why they are the same sender (kept in the audit log).")
@JSON_OPTION
@pass_ctx
@handle_errors
def link_command(state: Context, number: str, other: str, reason: str, as_json: bool) -> None:
    """Record that CASE and OTHER have the same sender (e.g. a new account of a known harasser)."""
    done = state.call("offenders.link", number=number, other=other, reason=reason)
    report(done, as_json, f"linked {done['case']} and {done['other']}")


def register(group: click.Group) -> None:
    group.add_command(offenders_group)
