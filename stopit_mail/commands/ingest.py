"""`stopit ingest PATH...`: import .eml files, mboxes, Maildirs, or '-' for standard input.

A Postfix pipe transport can call `stopit ingest --recipient ${recipient} -`; the exit status
is 0 once the message is stored (processing problems are quarantined, not failures), 75
(EX_TEMPFAIL) when it could not be stored, so Postfix keeps the message and retries.
Acknowledgements, notices and pages are only queued here: a running `stopit serve` or
`stopit worker` delivers them.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.errors import StorageError
from stopit_mail.ingest.service import IngestSummary, ingest_paths
from stopit_mail.ingest.sources import count_messages

EX_TEMPFAIL = 75


def _total(paths: tuple[str, ...]) -> int | None:
    try:
        return sum(count_messages(Path(p)) for p in paths if p != "-")
    except OSError:
        return None


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--recipient", metavar="ADDRESS",
              help="The mailbox the messages were sent to (Postfix: ${recipient}); picks the organisation. "
                   "Default: the envelope, else Delivered-To / X-Original-To.")
@click.option("--no-ack", is_flag=True, help="Historical import: process, but mail no acknowledgement to reporters.")
@pass_ctx
@handle_errors
def ingest_command(state: Context, paths: tuple[str, ...], as_json: bool, quiet: bool, recipient: str | None,
                   no_ack: bool) -> None:
    """Store and process every message in PATHS (files, mbox, Maildir, folders, '-').

    Mail is only queued: a running `stopit serve` (or `stopit worker`) sends it.
    """
    app = state.app
    console = Console(stderr=True)
    show_bar = not quiet and not as_json and "-" not in paths and console.is_terminal
    try:
        if show_bar:
            columns = (TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("ingest", total=_total(paths))
                summary = ingest_paths(app, paths, on_message=lambda: progress.advance(task),
                                       recipient=recipient, acknowledge=not no_ack)
        else:
            summary = ingest_paths(app, paths, recipient=recipient, acknowledge=not no_ack)
    except StorageError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EX_TEMPFAIL) from exc
    _print_summary(summary, as_json, quiet)
    if summary.errors and not (summary.stored or summary.duplicates):
        raise SystemExit(1)


def _print_summary(summary: IngestSummary, as_json: bool, quiet: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    click.echo(
        f"stored {summary.stored}, processed {summary.processed}, duplicates {summary.duplicates}, "
        f"quarantined {summary.quarantined}; cases: {', '.join(sorted(summary.cases)) or 'none'}"
    )
    for error in summary.errors:
        click.echo(f"error: {error}", err=True)
    if summary.processed and not quiet:
        click.echo("mail (acknowledgements, pages) is queued; a running `stopit serve` or `stopit worker` sends it",
                   err=True)


def register(group: click.Group) -> None:
    group.add_command(ingest_command)
