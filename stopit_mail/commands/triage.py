"""`stopit triage examples add|list|remove`: an organisation's own reviewed triage examples.

Thin commands over `stopit_mail.cases.triage_examples`; each runs in one transaction with its
audit event. `add --from-case CASE` takes the sentence that raised that case, so a dismissed false
alarm becomes a *negative* example in one command.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from stopit_mail.cases.detect.bank import LABELS
from stopit_mail.cases.triage import CATEGORIES
from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.output import JSON_OPTION, json_text, report
from stopit_mail.textsafe import markup_safe as safe
from stopit_mail.textsafe import terminal_safe


@click.group("triage")
def triage_group() -> None:
    """Triage: the reviewed examples the detector compares reports with."""


@triage_group.group("examples")
def examples_group() -> None:
    """An organisation's own reviewed example sentences (used beside the shipped bank)."""


@examples_group.command("add")
@click.argument("sentence", required=False)
@click.option("--label", type=click.Choice(LABELS), required=True,
              help="emergency, concern, or negative (a false alarm that must not page).")
@click.option("--category", type=click.Choice(CATEGORIES), required=True, help="What the sentence is about.")
@click.option("--org", "organisation", help="Organisation (default: the case's, or the only one configured).")
@click.option("--from-case", "from_case", metavar="CASE", help="Use the sentence that raised this case.")
@click.option("--language", help="Language code (default: identified from the sentence).")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@JSON_OPTION
@pass_ctx
@handle_errors
def add_command(state: Context, sentence: str | None, label: str, category: str, organisation: str | None,
                from_case: str | None, language: str | None, reason: str, as_json: bool) -> None:
    """Add SENTENCE (or the triggering sentence of --from-case) as a reviewed example."""
    if bool(sentence) == bool(from_case):
        raise click.UsageError("give either SENTENCE or --from-case CASE")
    row = state.call("triage.examples.add", sentence=sentence, from_case=from_case, label=label, category=category,
                     organisation=organisation, language=language, reason=reason)
    report(row, as_json, f"example #{row['id']} added for {row['organisation']} ({row['label']}, {row['category']}, "
                         f"{row['language']}): {terminal_safe(row['sentence'])}")


@examples_group.command("list")
@click.option("--org", "organisation", help="Only this organisation's examples.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
@handle_errors
def list_command(state: Context, organisation: str | None, as_json: bool) -> None:
    """The organisation examples you may see, oldest first."""
    rows = state.call("triage.examples.list", organisation=organisation)
    if as_json:
        click.echo(json_text(rows))
        return
    table = Table("#", "org", "label", "category", "lang", "sentence", "added by", "case")
    for row in rows:
        table.add_row(str(row["id"]), safe(row["organisation"]), row["label"], row["category"], row["language"],
                      safe(row["sentence"]), safe(row["added_by"]), row["source_case"] or "")
    Console(highlight=False).print(table if rows else "No organisation examples yet.")


@examples_group.command("remove")
@click.argument("example_id", type=int)
@click.option("--reason", default="", help="Why (kept in the audit log).")
@JSON_OPTION
@pass_ctx
@handle_errors
def remove_command(state: Context, example_id: int, reason: str, as_json: bool) -> None:
    """Remove organisation example EXAMPLE_ID."""
    done = state.call("triage.examples.remove", id=example_id, reason=reason)
    report(done, as_json, f"example #{done['id']} removed ({done['organisation']}: {terminal_safe(done['sentence'])})")


def register(group: click.Group) -> None:
    group.add_command(triage_group)
