"""`stopit cases export` and `stopit verify-export`: evidence packages an investigator can trust."""

from __future__ import annotations

import json
from pathlib import Path

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group


@cases_group.command("export")
@click.argument("number")
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path),
              help="A new folder, or a FILE.zip.")
@click.option("--with-identity", is_flag=True, help="Include an anonymous reporter's messages (an audited reveal).")
@click.option("--reason", default="", help="Why the identity is needed (required with --with-identity).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def export_command(state: Context, number: str, output: Path, with_identity: bool, reason: str,
                   as_json: bool) -> None:
    """Write CASE's evidence package: originals byte for byte, attachments, verification, timeline, summary."""
    from stopit_mail.cases.export import export_case

    with state.case_action(number) as (session, case, actor):
        digest = export_case(session, state.app.settings, actor, case, output, with_identity, reason)
        number = case.number
    if as_json:
        click.echo(json.dumps({"case": number, "output": str(output), "manifest_sha256": digest}))
        return
    click.echo(f"exported {number} to {output}\nmanifest SHA-256 {digest} (recorded in the audit log)")


@click.command("verify-export")
@click.argument("package", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def verify_export_command(state: Context, package: Path, as_json: bool) -> None:
    """Check every file of an evidence package against its manifest (and our audit log, when reachable)."""
    from stopit_mail.cases.export import recorded_export, verify_package
    from stopit_mail.db import transaction
    from stopit_mail.errors import StopitError

    result = verify_package(package)
    recorded = None
    try:
        with transaction(state.app.factory) as session:
            recorded = recorded_export(session, result.case, result.manifest_sha256)
    except StopitError:
        pass  # No installation here: the manifest check alone still stands.
    if as_json:
        click.echo(json.dumps({"case": result.case, "files": result.files, "manifest_sha256": result.manifest_sha256,
                               "problems": result.problems, "recorded_export": recorded}))
    else:
        for problem in result.problems:
            click.echo(problem)
        verdict = "intact" if not result.problems else f"NOT intact ({len(result.problems)} problems)"
        click.echo(f"{result.case}: {result.files} files, {verdict}; manifest SHA-256 {result.manifest_sha256}")
        if recorded:
            click.echo(f"exported by {recorded['actor']} at {recorded['at']} (audit log)")
    if result.problems:
        raise SystemExit(1)


def register(group: click.Group) -> None:
    group.add_command(verify_export_command)
