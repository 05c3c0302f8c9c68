"""Mail-sending staff commands: `cases refer`, `cases consent`, `reply`."""

from __future__ import annotations

from pathlib import Path

import click

from stopit_mail.cases.messaging import reply_to_reporter
from stopit_mail.cases.referrals import preview_referral, record_consent, refer_case
from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.textsafe import terminal_safe


@cases_group.command("refer")
@click.argument("number")
@click.argument("office")
@click.option("--with-identity", is_flag=True, help="Include the reporter's identity (needs their recorded consent).")
@click.option("--note", default="", help="Your note to the office (sent with the referral and kept on the case).")
@click.option("--update", is_flag=True, help="Send an updated referral to an office that already has one.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
@handle_errors
def refer_command(state: Context, number: str, office: str, with_identity: bool, note: str, update: bool,
                  yes: bool) -> None:
    """Send a referral with the report's words and the evidence to OFFICE."""
    app = state.app
    with state.case_action(number) as (session, case, actor):
        prepared = preview_referral(session, app.settings, actor, case, office, with_identity, note, update)
        if not yes:
            click.echo(terminal_safe(prepared.preview()[:6000]))
            click.confirm(f"Refer {case.number} to {office} ({prepared.recipient})?", abort=True)
        result = refer_case(session, app.settings, actor, case, office, with_identity, note, update)
        click.echo(result["message"])


@cases_group.command("consent")
@click.argument("number")
@click.option("--reason", required=True, help="How the reporter agreed (kept in the audit log).")
@pass_ctx
@handle_errors
def consent_command(state: Context, number: str, reason: str) -> None:
    """Record that the reporter agreed to share their identity with offices."""
    with state.case_action(number) as (session, case, actor):
        record_consent(session, actor, case, reason)
    click.echo(f"consent recorded for {number}")


@click.command("reply")
@click.argument("number")
@click.option("--message", "-m", help="The message text.")
@click.option("--file", "-f", "file_path", type=click.Path(exists=True, dir_okay=False), help="Read the message from a file.")
@click.option("--report", "report_id", type=int, help="Which report's reporter (default: the first).")
@pass_ctx
@handle_errors
def reply_command(state: Context, number: str, message: str | None, file_path: str | None, report_id: int | None) -> None:
    """Write to the reporter through the case alias (anonymous reporters stay anonymous)."""
    text = message if message is not None else Path(file_path).read_text() if file_path else click.edit("") or ""
    with state.case_action(number) as (session, case, actor):
        row = reply_to_reporter(session, state.app.settings, actor, case, text, report_id)
        if row is None or row.kind == "web-new-message":
            click.echo(f"posted the message on the web check-back page of {case.number}"
                       + (f" (notice mailed, outbox {row.id})" if row else ""))
        else:
            click.echo(f"queued message to the reporter of {case.number} (outbox {row.id})")


def register(group: click.Group) -> None:
    group.add_command(reply_command)
