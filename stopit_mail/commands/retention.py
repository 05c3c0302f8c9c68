"""`stopit retention plan|run` and `stopit cases hold|release`: keeping cases no longer than policy says."""

from __future__ import annotations

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.commands.output import JSON_OPTION, report


@click.group("retention")
def retention_group() -> None:
    """What retention will purge and when; purge what is due (admin)."""


@retention_group.command("plan")
@JSON_OPTION
@pass_ctx
@handle_errors
def plan_command(state: Context, as_json: bool) -> None:
    """List closed cases under a retention rule: last activity, due date, warning, purge date."""
    items = state.call("retention.plan")
    if as_json:
        report(items, True, "")
        return
    if not items:
        click.echo("Nothing is scheduled for purging (open cases and organisations without a rule are kept).")
    for item in items:
        purge = f"purge on or after {item['purge_at'][:10]}" if item["purge_at"] else "not warned yet"
        click.echo(f"{item['number']:<16} {item['state']:<8} last activity {item['last_activity'][:10]}, "
                   f"due {item['due_at'][:10]}, {purge} ({item['rule']}{', ON LEGAL HOLD' if item['held'] else ''})")


@retention_group.command("run")
@JSON_OPTION
@pass_ctx
@handle_errors
def run_command(state: Context, as_json: bool) -> None:
    """Warn about cases entering their warning period and purge the ones due (admin role)."""
    result = state.call("retention.run")
    report(result, as_json, f"warned: {', '.join(result['warned']) or 'none'}\n"
                            f"purged: {', '.join(result['purged']) or 'none'}")


def _hold(state: Context, number: str, reason: str, hold: bool, as_json: bool) -> None:
    done = state.call("cases.hold" if hold else "cases.release", number=number, reason=reason)
    report(done, as_json, f"{done['case']} is "
           f"{'on legal hold: retention will not purge it' if hold else 'released from legal hold'}")


@cases_group.command("hold")
@click.argument("number")
@click.option("--reason", required=True, help="Why the case must be kept (kept in the audit log).")
@JSON_OPTION
@pass_ctx
@handle_errors
def hold_command(state: Context, number: str, reason: str, as_json: bool) -> None:
    """Put a case on legal hold: retention never purges it until released."""
    _hold(state, number, reason, True, as_json)


@cases_group.command("release")
@click.argument("number")
@click.option("--reason", required=True, help="Why the hold ends (kept in the audit log).")
@JSON_OPTION
@pass_ctx
@handle_errors
def release_command(state: Context, number: str, reason: str, as_json: bool) -> None:
    """Release a legal hold (admin role); the retention clock restarts from now."""
    _hold(state, number, reason, False, as_json)


def register(group: click.Group) -> None:
    group.add_command(retention_group)
