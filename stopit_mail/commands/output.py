"""What every reporting command shares: `--json` prints the staff API's result (docs/api.md)."""

from __future__ import annotations

import json

import click

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the API result as JSON (docs/api.md).")


def report(result: object, as_json: bool, line: str) -> None:
    """The API result as JSON, or the line a person reads."""
    click.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str) if as_json else line)
