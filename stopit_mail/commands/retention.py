"""`stopit retention plan|run` and `stopit cases hold|release`: keeping cases no longer than policy says."""

from __future__ import annotations

import click

from stopit_mail.cases.retention import plan, run_due, set_hold
from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.db import transaction


@click.group("retention")
def retention_group() -> None:
    """What retention will purge and when; purge what is due (admin)."""


@retention_group.command("plan")
@pass_ctx
@handle_errors
def plan_command(state: Context) -> None:
    """List closed cases under a retention rule: last activity, due date, warning, purge date."""
    with transaction(state.app.factory) as session:
        items = plan(session, state.app.settings, state.viewer)
    if not items:
        click.echo("Nothing is scheduled for purging (open cases and organisations without a rule are kept).")
    for item in items:
        purge = f"purge on or after {item.purge_at:%Y-%m-%d}" if item.purge_at else "not warned yet"
        click.echo(f"{item.number:<16} {item.state:<8} last activity {item.last_activity:%Y-%m-%d}, "
                   f"due {item.due_at:%Y-%m-%d}, {purge} ({item.rule}{', ON LEGAL HOLD' if item.held else ''})")


@retention_group.command("run")
@pass_ctx
@handle_errors
def run_command(state: Context) -> None:
    """Warn about cases entering their warning period and purge the ones due (admin role)."""
    actor = state.admin()
    with transaction(state.app.factory) as session:
        result = run_due(session, state.app.settings, actor=actor.name, scope=actor)
    click.echo(f"warned: {', '.join(result.warned) or 'none'}")
    click.echo(f"purged: {', '.join(result.purged) or 'none'}")


def _hold(state: Context, number: str, reason: str, hold: bool) -> None:
    with state.case_action(number) as (session, case, actor):
        set_hold(session, actor, case, reason, hold)
        click.echo(f"{case.number} is {'on legal hold: retention will not purge it' if hold else 'released from legal hold'}")


@cases_group.command("hold")
@click.argument("number")
@click.option("--reason", required=True, help="Why the case must be kept (kept in the audit log).")
@pass_ctx
@handle_errors
def hold_command(state: Context, number: str, reason: str) -> None:
    """Put a case on legal hold: retention never purges it until released."""
    _hold(state, number, reason, True)


@cases_group.command("release")
@click.argument("number")
@click.option("--reason", required=True, help="Why the hold ends (kept in the audit log).")
@pass_ctx
@handle_errors
def release_command(state: Context, number: str, reason: str) -> None:
    """Release a legal hold (admin role); the retention clock restarts from now."""
    _hold(state, number, reason, False)


def register(group: click.Group) -> None:
    group.add_command(retention_group)
