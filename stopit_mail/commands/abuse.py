"""`stopit cases report-abuse CASE`: an ARF (or X-ARF) report to the origin provider's abuse desk."""

from __future__ import annotations

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.commands.output import JSON_OPTION, report
from stopit_mail.outbound.arf import FORMATS
from stopit_mail.textsafe import terminal_safe


@cases_group.command("report-abuse")
@click.argument("number")
@click.option("--to", "recipient", help="The abuse desk (default: the origin provider's, from the shipped data).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="arf", show_default=True,
              help="ARF (RFC 5965) or X-ARF.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@JSON_OPTION
@pass_ctx
@handle_errors
def report_abuse_command(state: Context, number: str, recipient: str | None, fmt: str, yes: bool, as_json: bool) -> None:
    """Report the case's traced evidence to the abuse desk of the provider it came from."""
    if not yes:
        preview = state.call("abuse.preview", number=number, to=recipient, format=fmt)
        click.echo(terminal_safe(preview["message"][:6000]))
        click.confirm(f"Send this {fmt.upper()} report to {preview['recipient']}?", abort=True)
    done = state.call("cases.report_abuse", number=number, to=recipient, format=fmt)
    report(done, as_json, f"queued {fmt.upper()} abuse report on {done['case']} to {done['recipient']} "
                          f"(outbox {done['outbox']})")


def register(group: click.Group) -> None:
    """Nothing to add: the command hangs off `stopit cases` when this module is imported."""
