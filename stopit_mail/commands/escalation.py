"""`stopit ack|confirm|dismiss CASE`, `stopit cases seen CASE` and `stopit escalations`.

Stop the paging, decide a possible emergency, record that a report was read, and watch the
clocks. The rules live in `cases.escalation*`; these commands only call them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from stopit_mail.cases.codes import normalise_code
from stopit_mail.cases.escalation import REVIEW, acknowledge, open_escalations
from stopit_mail.cases.escalation_list import escalation_rows
from stopit_mail.cases.escalation_review import CONFIRMED, DISMISSED, decide
from stopit_mail.cases.escalation_unread import mark_seen
from stopit_mail.cases.queries import get_case
from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.db import transaction
from stopit_mail.errors import StopitError
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
@pass_ctx
@handle_errors
def ack_command(state: Context, number: str, code: str | None) -> None:
    """Acknowledge CASE's emergency: stop paging its escalation chain."""
    actor = state.actor
    with transaction(state.app.factory) as session:
        case = get_case(session, number)
        actor.check_case(case)
        escalations = open_escalations(session, case.id)
        if not escalations:
            raise StopitError(f"{case.number} has no open escalation: nothing is being paged")
        # A review is answered, not acknowledged: silencing it must leave a decision behind.
        escalations = [e for e in escalations if e.kind != REVIEW]
        if not escalations:
            raise StopitError(f"{case.number} is a possible emergency under review: run `stopit confirm` or "
                              f"`stopit dismiss` with --reason")
        if code is not None:
            escalations = [e for e in escalations if e.ack_code == normalise_code(code)]
            if not escalations:
                raise StopitError(f"code {code!r} is not the acknowledgement code of {case.number}'s open escalation")
        done = []
        for esc in escalations:
            done += acknowledge(session, esc, by=actor.name, now=datetime.now(UTC), via="command",
                                settings=state.app.settings)
    for esc in done:
        click.echo(f"acknowledged {case.number} (escalation {esc.id}) after {esc.step + 1 if esc.steps else 0} "
                   f"page(s): paging stopped")


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
    # Like `cases list`, this needs no --as: an emergency listing must never be one error away.
    with transaction(state.app.factory) as session:
        rows = escalation_rows(session, datetime.now(UTC), include_acknowledged=include_all)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    console = Console(highlight=False)
    for line in _alerts(rows):
        console.print(line)
    console.print(_table(rows) if rows else "No open escalations.")


def _decide(state: Context, number: str, decision: str, reason: str) -> None:
    with state.case_action(number) as (session, case, actor):
        actor.check_case(case)
        now = datetime.now(UTC)
        decide(session, state.app.settings, case, decision, by=actor.name, reason=reason, now=now, via="command")
        # Deciding from the command line means the case was in front of a person.
        mark_seen(session, state.app.settings, case, actor.name, now, via=f"{decision[:-2]} command")
        number, urgency = case.number, case.urgency
    then = "the escalation chain is being paged" if decision == CONFIRMED else f"paging stopped; urgency now {urgency}"
    click.echo(f"{number} {decision} by {actor.name}: {then}")


@click.command("confirm")
@click.argument("number")
@click.option("--reason", required=True, help="Why this is an emergency (recorded).")
@pass_ctx
@handle_errors
def confirm_command(state: Context, number: str, reason: str) -> None:
    """Confirm CASE's possible emergency: page the escalation chain now."""
    _decide(state, number, CONFIRMED, reason)


@click.command("dismiss")
@click.argument("number")
@click.option("--reason", required=True, help="Why this is not an emergency (recorded; may become a reviewed example).")
@pass_ctx
@handle_errors
def dismiss_command(state: Context, number: str, reason: str) -> None:
    """Dismiss CASE's possible emergency: stop paging; the case stays urgent."""
    _decide(state, number, DISMISSED, reason)


@click.command("seen")
@click.argument("number")
@pass_ctx
@handle_errors
def seen_command(state: Context, number: str) -> None:
    """Record that you have read CASE (stops its read deadline and any unread-report page)."""
    with state.case_action(number) as (session, case, actor):
        actor.check_case(case)
        first = mark_seen(session, state.app.settings, case, actor.name, datetime.now(UTC), via="cases seen")
        number = case.number
    click.echo(f"{number} marked as read by {actor.name}" if first else f"{number} was already read")


def register(group: click.Group) -> None:
    group.add_command(ack_command)
    group.add_command(confirm_command)
    group.add_command(dismiss_command)
    group.add_command(escalations_command)
    cases_group.add_command(seen_command)
