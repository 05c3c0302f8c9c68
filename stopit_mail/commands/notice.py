"""`stopit notice preview|send`: please-stop notices to alleged senders."""

from __future__ import annotations

import click

from stopit_mail.cases.notices import NOTICE_TEMPLATES
from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.output import JSON_OPTION, report
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
@JSON_OPTION
@pass_ctx
@handle_errors
def preview_command(state: Context, number: str, template: str, recipient: str | None, as_json: bool) -> None:
    """Print exactly what `notice send` would send."""
    done = state.call("notice.preview", number=number, template=template, to=recipient)
    report(done, as_json, terminal_safe(done["message"]))


@notice_group.command("send")
@click.argument("number")
@_TEMPLATE
@_TO
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@JSON_OPTION
@pass_ctx
@handle_errors
def send_command(state: Context, number: str, template: str, recipient: str | None, yes: bool, as_json: bool) -> None:
    """Queue a notice through the outbox after confirmation."""
    if not yes:
        preview = state.call("notice.preview", number=number, template=template, to=recipient)
        click.echo(terminal_safe(preview["message"]))
        click.confirm(f"Send this {template} notice to {preview['recipient']}?", abort=True)
    done = state.call("notice.send", number=number, template=template, to=recipient)
    report(done, as_json, f"queued {template} notice to {done['recipient']} for {done['case']} (outbox {done['outbox']})")


def register(group: click.Group) -> None:
    group.add_command(notice_group)
