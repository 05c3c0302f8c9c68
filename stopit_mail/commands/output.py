"""What the staff commands share: `--json` prints the staff API's result (docs/api.md), and
`--since` is read the same way everywhere. Light on purpose: no SQLAlchemy, no services.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click

from stopit_mail.textsafe import json_escaped

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the API result as JSON (docs/api.md).")


def json_text(value: object) -> str:
    """`value` as indented JSON for a terminal: letters of every script kept, control characters
    and bidi overrides from reports escaped (`textsafe.json_escaped`)."""
    return json_escaped(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def report(result: object, as_json: bool, line: str) -> None:
    """The API result as JSON, or the line a person reads."""
    click.echo(json_text(result) if as_json else line)


def parse_since(text: str | None) -> datetime | None:
    """'5m', '12h', '7d', '2w', or an ISO date."""
    if not text:
        return None
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if text[-1:] in units and text[:-1].isdigit():
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("expected e.g. 5m, 12h, 7d, 2w or 2026-01-31", param_hint="--since") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
