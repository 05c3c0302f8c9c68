"""`stopit notice preview|send`: please-stop notices to alleged senders."""

from __future__ import annotations

import click

from stopit_mail.cases.notices import NOTICE_TEMPLATES, prepare_notice, send_notice
from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.textsafe import terminal_safe

_TEMPLATE = click.option("--template", "-t", type=click.Choice(sorted(NOTICE_TEMPLATES)), default="please-stop",
                         show_default=True, help="Which notice.")
_TO = click.option("--to", "recipient", help="Recipient (default: the case's first alleged sender).")


@click.group("notice")
def notice_group() -> None:
    """Non-accusatory requests to stop, sent to alleged senders."""


@notice_group.command("preview")
@click.argument("number")
@_TEMPLATE
@_TO
@pass_ctx
@handle_errors
def preview_command(state: Context, number: str, template: str, recipient: str | None) -> None:
    """Print exactly what `notice send` would send."""
    with state.case_action(number) as (session, case, actor):
        actor.check_case(case)
        prepared = prepare_notice(state.app.settings, case, template, recipient)
    click.echo(terminal_safe(prepared.preview()))


@notice_group.command("send")
@click.argument("number")
@_TEMPLATE
@_TO
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
@handle_errors
def send_command(state: Context, number: str, template: str, recipient: str | None, yes: bool) -> None:
    """Queue a notice through the outbox after confirmation."""
    app = state.app
    with state.case_action(number) as (session, case, actor):
        actor.check_case(case)
        prepared = prepare_notice(app.settings, case, template, recipient)
        if not yes:
            click.echo(terminal_safe(prepared.preview()))
            click.confirm(f"Send this {template} notice to {prepared.recipient}?", abort=True)
        row = send_notice(session, app.settings, actor, case, template, recipient)
        click.echo(f"queued {template} notice to {prepared.recipient} for {case.number} (outbox {row.id})")


def register(group: click.Group) -> None:
    group.add_command(notice_group)
