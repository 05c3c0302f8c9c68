"""`stopit cases assign|note|status|close|reopen|merge|classify`: staff casework (search is in search.py).

Thin clients of the staff API (`stopit_mail.api.methods.casework`): each call is one
transaction, so the change and its audit event are committed together. The acting staff member
is whoever the kernel says is calling (docs/api.md).
"""

from __future__ import annotations

import click

from stopit_mail.case_status import CaseStatus
from stopit_mail.cases.triage import CATEGORIES, URGENCIES
from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.commands.output import JSON_OPTION, report
from stopit_mail.textsafe import terminal_safe

WORKING_STATUSES = [s.value for s in CaseStatus if s is not CaseStatus.CLOSED]


@cases_group.command("assign")
@click.argument("number")
@click.argument("staff")
@JSON_OPTION
@pass_ctx
@handle_errors
def assign_command(state: Context, number: str, staff: str, as_json: bool) -> None:
    """Make STAFF responsible for case NUMBER."""
    done = state.call("cases.assign", number=number, staff=staff)
    report(done, as_json, f"{done['case']} {'assigned to' if done['changed'] else 'already assigned to'} "
                           f"{terminal_safe(done['assigned_to'])}")


@cases_group.command("note")
@click.argument("number")
@click.argument("text")
@JSON_OPTION
@pass_ctx
@handle_errors
def note_command(state: Context, number: str, text: str, as_json: bool) -> None:
    """Add a note to the case timeline (kept in the audit log)."""
    done = state.call("cases.note", number=number, text=text)
    report(done, as_json, f"{done['case']}: note added")


@cases_group.command("status")
@click.argument("number")
@click.argument("status", type=click.Choice(WORKING_STATUSES))
@click.option("--reason", help="Why (recorded in the audit log).")
@JSON_OPTION
@pass_ctx
@handle_errors
def status_command(state: Context, number: str, status: str, reason: str | None, as_json: bool) -> None:
    """Set the working status of a case (to close one, use `cases close`)."""
    done = state.call("cases.status", number=number, status=status, reason=reason)
    report(done, as_json, f"{done['case']} {'is now' if done['changed'] else 'is already'} {done['status']}")


@cases_group.command("close")
@click.argument("number")
@click.option("--outcome", required=True, help="Outcome code from casework.outcomes (e.g. resolved-notice, unfounded).")
@click.option("--resolution", required=True, help="What was done (required; kept with the case).")
@JSON_OPTION
@pass_ctx
@handle_errors
def close_command(state: Context, number: str, outcome: str, resolution: str, as_json: bool) -> None:
    """Close a case with an outcome code and its resolution. A closed case refuses changes until reopened."""
    done = state.call("cases.close", number=number, outcome=outcome, resolution=resolution)
    report(done, as_json, f"{done['case']} closed ({outcome})")


@cases_group.command("reopen")
@click.argument("number")
@click.option("--reason", help="Why it is reopened (recorded in the audit log).")
@JSON_OPTION
@pass_ctx
@handle_errors
def reopen_command(state: Context, number: str, reason: str | None, as_json: bool) -> None:
    """Reopen a closed case; it returns to the status it had before closing."""
    done = state.call("cases.reopen", number=number, reason=reason)
    report(done, as_json, f"{done['case']} reopened ({done['status']})")


@cases_group.command("merge")
@click.argument("number")
@click.argument("into_number", metavar="INTO")
@JSON_OPTION
@pass_ctx
@handle_errors
def merge_command(state: Context, number: str, into_number: str, as_json: bool) -> None:
    """Merge case NUMBER into case INTO: its reports, evidence and parties move there.

    NUMBER stays as a closed pointer to INTO, so its number and reporter alias keep working.
    """
    done = state.call("cases.merge", number=number, into=into_number)
    moved = done["moved"]
    report(done, as_json, f"{done['case']} merged into {done['into']}: {moved['reports']} reports, "
                           f"{moved['evidence']} evidence items, {moved['parties']} parties moved")


@cases_group.command("classify")
@click.argument("number")
@click.option("--category", "categories", multiple=True, type=click.Choice(CATEGORIES),
              help="A category (repeat for several); replaces the current ones.")
@click.option("--urgency", type=click.Choice(URGENCIES), help="The urgency.")
@click.option("--reason", required=True, help="Why the automatic triage is overridden (required).")
@JSON_OPTION
@pass_ctx
@handle_errors
def classify_command(state: Context, number: str, categories: tuple[str, ...], urgency: str | None,
                     reason: str, as_json: bool) -> None:
    """Override triage: set categories and/or urgency, recording who and why."""
    if not categories and urgency is None:
        raise click.UsageError("give at least one --category or --urgency")
    done = state.call("cases.classify", number=number, categories=list(categories), urgency=urgency, reason=reason)
    report(done, as_json, f"{done['case']}: {', '.join(done['categories'])}; urgency {done['urgency']}"
                           + ("; escalation started" if done["escalation_started"] else ""))


def register(group: click.Group) -> None:
    """The commands attach themselves to `cases` on import; nothing more to add."""
