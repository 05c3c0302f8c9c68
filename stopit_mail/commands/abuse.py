"""`stopit cases report-abuse CASE`: an ARF (or X-ARF) report to the origin provider's abuse desk."""

from __future__ import annotations

import click

from stopit_mail.cases.abuse import prepare_abuse_report, send_abuse_report
from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.outbound.arf import FORMATS
from stopit_mail.textsafe import terminal_safe


@cases_group.command("report-abuse")
@click.argument("number")
@click.option("--to", "recipient", help="The abuse desk (default: the origin provider's, from the shipped data).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="arf", show_default=True,
              help="ARF (RFC 5965) or X-ARF.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
@handle_errors
def report_abuse_command(state: Context, number: str, recipient: str | None, fmt: str, yes: bool) -> None:
    """Report the case's traced evidence to the abuse desk of the provider it came from."""
    with state.case_action(number) as (session, case, actor):
        actor.check_case(case)
        prepared = prepare_abuse_report(state.app.settings, case, recipient, fmt)
        if not yes:
            click.echo(terminal_safe(prepared.preview()[:6000]))
            click.confirm(f"Send this {fmt.upper()} report to {prepared.recipient}?", abort=True)
        row = send_abuse_report(session, state.app.settings, actor, case, recipient, fmt)
        click.echo(f"queued {fmt.upper()} abuse report on {case.number} to {prepared.recipient} (outbox {row.id})")


def register(group: click.Group) -> None:
    """Nothing to add: the command hangs off `stopit cases` when this module is imported."""
