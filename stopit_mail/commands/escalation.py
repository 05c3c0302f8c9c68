"""`stopit ack|confirm|dismiss CASE`, `stopit cases seen CASE` and `stopit escalations`.

Stop the paging, decide a possible emergency, record that a report was read, and watch the
clocks. The rules live in `cases.escalation*`; these commands only call them.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.commands.output import JSON_OPTION, json_text, report
from stopit_mail.textsafe import markup_safe as safe


def duration(seconds: int | None) -> str:
    """'45s', '12m', '2h05m', '3d4h'; empty for None."""
    if seconds is None:
        return ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


@click.command("ack")
@click.argument("number")
@click.option("--code", help="The acknowledgement code from the page (optional; checked when given).")
@JSON_OPTION
@pass_ctx
@handle_errors
def ack_command(state: Context, number: str, code: str | None, as_json: bool) -> None:
    """Acknowledge CASE's emergency: stop paging its escalation chain."""
    done = state.call("ack", number=number, code=code)
    report(done, as_json, "\n".join(f"acknowledged {done['case']} (escalation {e['escalation']}) after "
                                     f"{e['pages']} page(s): paging stopped" for e in done["acknowledged"]))


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Escalations")
    table.add_column("case", no_wrap=True)
    for name in ("status", "chain", "step", "running", "next page", "next contact", "pages"):
        table.add_column(name)
    for row in rows:
        due = row["next_page_in_seconds"]
        if row["status"] == "acknowledged":
            clock = f"ack'd by {safe(row['acknowledged_by'])}"
        elif due is None:
            clock = "[bold red]never[/]"
        elif due < 0:
            clock = f"[bold red]overdue {duration(due)}[/]"
        else:
            clock = f"in {duration(due)}"
        step = f"{row['step']}/{row['steps']} {safe(row['contact'])}" if row["step"] else "-"
        if (row["round"] or 0) > 1:
            step += f" (round {row['round']})"
        status = row["status"] if row["kind"] == "emergency" else f"{row['status']} ({row['kind']})"
        if row["status"] == "impossible" or row["alert"]:
            status = f"[bold red]{status.upper()}[/]"
        table.add_row(row["case"], status, safe(row["chain"]), step, duration(row["running_seconds"]), clock,
                      safe(row["next_contact"] or ""), str(row["pages_sent"]))
    return table


def _alerts(rows: list[dict[str, Any]]) -> list[str]:
    """One loud line per escalation that needs a person now, printed above the table."""
    return [f"[bold red]!! {row['case']} {row['status'].upper()}: {safe(row['alert'])}[/]"
            for row in rows if row["alert"]]


@click.command("escalations")
@click.option("--all", "include_all", is_flag=True, help="Include acknowledged escalations.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def escalations_command(state: Context, include_all: bool, as_json: bool) -> None:
    """List open escalations with their clocks (impossible ones first, flagged)."""
    rows = state.call("escalations.list", all=include_all)
    if as_json:
        click.echo(json_text(rows))
        return
    console = Console(highlight=False)
    for line in _alerts(rows):
        console.print(line)
    console.print(_table(rows) if rows else "No open escalations.")


def _decide(state: Context, number: str, decision: str, reason: str, as_json: bool) -> None:
    from stopit_mail.cases.escalation_review import CONFIRMED

    done = state.call(f"escalations.{decision[:-2]}", number=number, reason=reason)
    then = ("the escalation chain is being paged" if decision == CONFIRMED
            else f"paging stopped; urgency now {done['urgency']}")
    report(done, as_json, f"{done['case']} {decision} by {done['by']}: {then}")


@click.command("confirm")
@click.argument("number")
@click.option("--reason", required=True, help="Why this is an emergency (recorded).")
@JSON_OPTION
@pass_ctx
@handle_errors
def confirm_command(state: Context, number: str, reason: str, as_json: bool) -> None:
    """Confirm CASE's possible emergency: page the escalation chain now."""
    from stopit_mail.cases.escalation_review import CONFIRMED

    _decide(state, number, CONFIRMED, reason, as_json)


@click.command("dismiss")
@click.argument("number")
@click.option("--reason", required=True, help="Why this is not an emergency (recorded; may become a reviewed example).")
@JSON_OPTION
@pass_ctx
@handle_errors
def dismiss_command(state: Context, number: str, reason: str, as_json: bool) -> None:
    """Dismiss CASE's possible emergency: stop paging; the case stays urgent."""
    from stopit_mail.cases.escalation_review import DISMISSED

    _decide(state, number, DISMISSED, reason, as_json)


@click.command("seen")
@click.argument("number")
@JSON_OPTION
@pass_ctx
@handle_errors
def seen_command(state: Context, number: str, as_json: bool) -> None:
    """Record that you have read CASE (stops its read deadline and any unread-report page)."""
    done = state.call("cases.seen", number=number)
    report(done, as_json, f"{done['case']} marked as read by {done['by']}" if done["first"]
           else f"{done['case']} was already read")


def register(group: click.Group) -> None:
    group.add_command(ack_command)
    group.add_command(confirm_command)
    group.add_command(dismiss_command)
    group.add_command(escalations_command)
    cases_group.add_command(seen_command)
