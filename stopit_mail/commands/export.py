"""`stopit cases export`: the evidence package, built by the service and written by the caller.

The service builds the package and streams it as a zip (docs/api.md, `cases.export`); this
command writes the zip, or unpacks it into a new folder, with the caller's own permissions, then
checks every file against the manifest before saying it is done. Nothing half-written is left.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.cases import cases_group
from stopit_mail.commands.output import report


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
    from stopit_mail.cases.package import ExportError, check_new_target, verify_package

    try:
        check_new_target(output)
        existed = output.exists()
    except OSError as exc:
        raise ExportError(f"cannot write the package to {output}: {exc.strerror or exc}") from exc

    def fetch(sink: IO[bytes]) -> Any:
        return state.download("cases.export", sink, number=number, with_identity=with_identity or None,
                              reason=reason or None)

    try:
        result = _write(output, fetch)
        checked = verify_package(output)
    except OSError as exc:
        _remove(output, existed)
        raise ExportError(f"the package was not written to {output}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove(output, existed)
        raise
    if checked.problems or checked.manifest_sha256 != result["manifest_sha256"]:
        raise ExportError(f"the package written to {output} does not verify: "
                          f"{'; '.join(checked.problems) or 'its manifest is not the one the service recorded'}")
    result["output"] = str(output)
    report(result, as_json, f"exported {result['case']} to {output}: {result['files']} files, "
                            f"{result['withheld']} withheld\nmanifest SHA-256 {result['manifest_sha256']} "
                            "(recorded in the audit log)")


def _write(output: Path, fetch: Any) -> Any:
    """Receive the zip into `output` itself, or into an unnamed file unpacked into the folder."""
    from stopit_mail.cases.package import unpack_zip

    if output.suffix.lower() == ".zip":
        with output.open("xb") as sink:
            return fetch(sink)
    with tempfile.TemporaryFile() as sink:
        result = fetch(sink)
        sink.seek(0)
        output.mkdir(parents=True, exist_ok=True)
        unpack_zip(sink, output)
    return result


def _remove(output: Path, existed: bool) -> None:
    """Take away what this command wrote (an empty folder given to it stays)."""
    with contextlib.suppress(OSError):
        _remove_written(output, existed)


def _remove_written(output: Path, existed: bool) -> None:
    if output.suffix.lower() == ".zip" or not output.is_dir():
        output.unlink(missing_ok=True)
    elif not existed:
        shutil.rmtree(output, ignore_errors=True)
    else:
        for entry in output.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def register(group: click.Group) -> None:
    """`cases export` attaches itself to the cases group on import."""
