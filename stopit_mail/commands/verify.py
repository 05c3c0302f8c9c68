"""`stopit verify-export`: anyone holding an evidence package can check it, with nothing else.

No configuration, data folder or service is needed: the manifest names every file with its
SHA-256. `--audit` also asks the running service whether this installation's audit log recorded
that very export (the manifest's own digest); that needs staff access to the case.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx


@click.command("verify-export")
@click.argument("package", type=click.Path(exists=True, path_type=Path))
@click.option("--audit", is_flag=True, help="Also ask the stopit service whether its audit log recorded this export.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def verify_export_command(state: Context, package: Path, audit: bool, as_json: bool) -> None:
    """Check every file of an evidence package against its manifest."""
    from stopit_mail.cases.package import verify_package

    result = verify_package(package)
    recorded = None
    if audit:
        recorded = state.call("cases.export_record", number=result.case,
                              manifest_sha256=result.manifest_sha256)["recorded"]
    if as_json:
        click.echo(json.dumps({"case": result.case, "files": result.files, "manifest_sha256": result.manifest_sha256,
                               "problems": result.problems, "exported_by": result.manifest.get("exported_by"),
                               "exported_at": result.manifest.get("exported_at"), "recorded_export": recorded}))
    else:
        for problem in result.problems:
            click.echo(problem)
        verdict = "intact" if not result.problems else f"NOT intact ({len(result.problems)} problems)"
        click.echo(f"{result.case}: {result.files} files, {verdict}; manifest SHA-256 {result.manifest_sha256}")
        if audit:
            click.echo(f"exported by {recorded['actor']} at {recorded['at']} (the audit log)" if recorded
                       else "NOT in this installation's audit log")
    if result.problems or (audit and recorded is None):
        raise SystemExit(1)


def register(group: click.Group) -> None:
    group.add_command(verify_export_command)
