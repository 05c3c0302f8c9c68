"""Mail-sending staff commands: `cases refer`, `cases consent`, `reply`."""

from __future__ import annotations

from pathlib import Path

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.commands.output import JSON_OPTION, report
from stopit_mail.textsafe import terminal_safe


@cases_group.command("refer")
@click.argument("number")
@click.argument("office")
@click.option("--with-identity", is_flag=True, help="Include the reporter's identity (needs their recorded consent).")
@click.option("--note", default="", help="Your note to the office (sent with the referral and kept on the case).")
@click.option("--update", is_flag=True, help="Send an updated referral to an office that already has one.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@JSON_OPTION
@pass_ctx
@handle_errors
def refer_command(state: Context, number: str, office: str, with_identity: bool, note: str, update: bool,
                  yes: bool, as_json: bool) -> None:
    """Send a referral with the report's words and the evidence to OFFICE."""
    asked = {"number": number, "office": office, "with_identity": with_identity, "note": note, "update": update}
    if not yes:
        preview = state.call("refer.preview", **asked)
        click.echo(terminal_safe(preview["message"][:6000]))
        click.confirm(f"Refer {preview['case']} to {office} ({preview['recipient']})?", abort=True)
    done = state.call("cases.refer", **asked)
    report(done, as_json, done["message"])


@cases_group.command("consent")
@click.argument("number")
@click.option("--reason", required=True, help="How the reporter agreed (kept in the audit log).")
@JSON_OPTION
@pass_ctx
@handle_errors
def consent_command(state: Context, number: str, reason: str, as_json: bool) -> None:
    """Record that the reporter agreed to share their identity with offices."""
    done = state.call("cases.consent", number=number, reason=reason)
    report(done, as_json, f"consent recorded for {number}")


@click.command("reply")
@click.argument("number")
@click.option("--message", "-m", help="The message text.")
@click.option("--file", "-f", "file_path", type=click.Path(exists=True, dir_okay=False), help="Read the message from a file.")
@click.option("--report", "report_id", type=int, help="Which report's reporter (default: the first).")
@JSON_OPTION
@pass_ctx
@handle_errors
def reply_command(state: Context, number: str, message: str | None, file_path: str | None, report_id: int | None, as_json: bool) -> None:
    """Write to the reporter through the case alias (anonymous reporters stay anonymous)."""
    text = message if message is not None else Path(file_path).read_text() if file_path else click.edit("") or ""
    done = state.call("reply", number=number, message=text, report=report_id)
    if done["via"] == "web":
        report(done, as_json, f"posted the message on the web check-back page of {done['case']}"
               + (f" (notice mailed, outbox {done['outbox']})" if done["outbox"] else ""))
    else:
        report(done, as_json, f"queued message to the reporter of {done['case']} (outbox {done['outbox']})")


def register(group: click.Group) -> None:
    group.add_command(reply_command)
