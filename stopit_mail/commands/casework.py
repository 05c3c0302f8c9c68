"""`stopit cases assign|note|status|close|reopen|merge|classify|search`: staff casework.

Thin commands over `stopit_mail.cases.actions`: each runs in one transaction, so the change
and its audit event are committed together. The acting staff member is `--as`, STOPIT_STAFF
or staff_name.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.table import Table

from stopit_mail.cases import actions
from stopit_mail.cases.queries import get_case
from stopit_mail.cases.search import search_cases
from stopit_mail.cases.triage import CATEGORIES, URGENCIES
from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.db import transaction
from stopit_mail.models import CaseStatus
from stopit_mail.textsafe import markup_safe as safe
from stopit_mail.textsafe import terminal_safe

WORKING_STATUSES = [s.value for s in CaseStatus if s is not CaseStatus.CLOSED]


@cases_group.command("assign")
@click.argument("number")
@click.argument("staff")
@pass_ctx
@handle_errors
def assign_command(state: Context, number: str, staff: str) -> None:
    """Make STAFF responsible for case NUMBER."""
    with state.case_action(number) as (session, case, actor):
        changed = actions.assign(session, actor, case, staff, state.app.settings.staff)
    click.echo(f"{case.number} {'assigned to' if changed else 'already assigned to'} {terminal_safe(case.assigned_to)}")


@cases_group.command("note")
@click.argument("number")
@click.argument("text")
@pass_ctx
@handle_errors
def note_command(state: Context, number: str, text: str) -> None:
    """Add a note to the case timeline (kept in the audit log)."""
    with state.case_action(number) as (session, case, actor):
        actions.note(session, actor, case, text)
    click.echo(f"{case.number}: note added")


@cases_group.command("status")
@click.argument("number")
@click.argument("status", type=click.Choice(WORKING_STATUSES))
@click.option("--reason", help="Why (recorded in the audit log).")
@pass_ctx
@handle_errors
def status_command(state: Context, number: str, status: str, reason: str | None) -> None:
    """Set the working status of a case (to close one, use `cases close`)."""
    with state.case_action(number) as (session, case, actor):
        changed = actions.set_status(session, actor, case, status, reason)
    click.echo(f"{case.number} {'is now' if changed else 'is already'} {case.status.value}")


@cases_group.command("close")
@click.argument("number")
@click.option("--outcome", required=True, help="Outcome code from casework.outcomes (e.g. resolved-notice, unfounded).")
@click.option("--resolution", required=True, help="What was done (required; kept with the case).")
@pass_ctx
@handle_errors
def close_command(state: Context, number: str, outcome: str, resolution: str) -> None:
    """Close a case with an outcome code and its resolution. A closed case refuses changes until reopened."""
    outcomes = state.app.settings.casework.outcomes
    with state.case_action(number) as (session, case, actor):
        actions.close(session, actor, case, resolution, outcome, outcomes)
    click.echo(f"{case.number} closed ({outcome})")


@cases_group.command("reopen")
@click.argument("number")
@click.option("--reason", help="Why it is reopened (recorded in the audit log).")
@pass_ctx
@handle_errors
def reopen_command(state: Context, number: str, reason: str | None) -> None:
    """Reopen a closed case; it returns to the status it had before closing."""
    with state.case_action(number) as (session, case, actor):
        actions.reopen(session, actor, case, reason)
    click.echo(f"{case.number} reopened ({case.status.value})")


@cases_group.command("merge")
@click.argument("number")
@click.argument("into_number", metavar="INTO")
@pass_ctx
@handle_errors
def merge_command(state: Context, number: str, into_number: str) -> None:
    """Merge case NUMBER into case INTO: its reports, evidence and parties move there.

    NUMBER stays as a closed pointer to INTO, so its number and reporter alias keep working.
    """
    actor = state.actor
    with transaction(state.app.factory) as session:
        case, into = get_case(session, number), get_case(session, into_number)
        moved = actions.merge(session, actor, case, into)
    click.echo(f"{case.number} merged into {into.number}: {moved['reports']} reports, "
               f"{moved['evidence']} evidence items, {moved['parties']} parties moved")


@cases_group.command("classify")
@click.argument("number")
@click.option("--category", "categories", multiple=True, type=click.Choice(CATEGORIES),
              help="A category (repeat for several); replaces the current ones.")
@click.option("--urgency", type=click.Choice(URGENCIES), help="The urgency.")
@click.option("--reason", required=True, help="Why the automatic triage is overridden (required).")
@pass_ctx
@handle_errors
def classify_command(state: Context, number: str, categories: tuple[str, ...], urgency: str | None,
                     reason: str) -> None:
    """Override triage: set categories and/or urgency, recording who and why."""
    if not categories and urgency is None:
        raise click.UsageError("give at least one --category or --urgency")
    # Imported here: the escalation templates are not what `cases search` or `note` should load.
    from stopit_mail.cases.escalation import start_escalation

    with state.case_action(number) as (session, case, actor):
        actions.classify(session, actor, case, list(categories), urgency, reason)
        # A person judging a case an emergency pages the chain exactly as triage would.
        paged = case.urgency == "emergency" and start_escalation(
            session, state.app.settings, case, datetime.now(UTC)) is not None
    click.echo(f"{case.number}: {', '.join(case.categories)}; urgency {case.urgency}"
               + ("; escalation started" if paged else ""))


@cases_group.command("search")
@click.argument("text")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def search_command(state: Context, text: str, limit: int, as_json: bool) -> None:
    """Find cases by words in titles, reports, evidence subjects and bodies, senders and notes."""
    with transaction(state.app.factory) as session:
        rows = search_cases(session, text, actor=state.viewer, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("case", "status", "org", "title", "matched in", "snippet")
    for row in rows:
        first = row["matches"][0]
        table.add_row(row["number"], row["status"], row["organisation"], safe(row["title"])[:40],
                      ", ".join(m["field"] for m in row["matches"]), safe(first["snippet"])[:90])
    Console(highlight=False).print(table if rows else "No matching cases.")


def register(group: click.Group) -> None:
    """The commands attach themselves to `cases` on import; nothing more to add."""
