"""`stopit cases list|show`: what staff read first."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Column, Table

from stopit_mail.cases import queries
from stopit_mail.cases.anonymity import reveal
from stopit_mail.cases.escalation_unread import mark_seen
from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.db import transaction
from stopit_mail.models import CaseStatus
from stopit_mail.textsafe import markup_safe as safe


def parse_since(text: str | None) -> datetime | None:
    """'7d', '12h', or an ISO date."""
    if not text:
        return None
    units = {"d": "days", "h": "hours", "w": "weeks"}
    if text[-1:] in units and text[:-1].isdigit():
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("expected e.g. 7d, 12h, 2w or 2026-01-31", param_hint="--since") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.group("cases")
def cases_group() -> None:
    """List and read cases."""


@cases_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in CaseStatus]), help="Only this status.")
@click.option("--since", help="Opened since: 7d, 12h, 2w or an ISO date.")
@click.option("--text", help="Search titles, numbers, senders and subjects.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def list_command(state: Context, status: str | None, since: str | None, text: str | None, as_json: bool) -> None:
    """List cases, newest first."""
    with transaction(state.app.factory) as session:
        rows = queries.list_cases(session, status=status, since=parse_since(since), text=text, actor=state.viewer)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("opened", "status", "urgency", "rep.", "ev.", "alleged sender", "title")
    # The case number is what staff type next: never truncate it.
    table.columns.insert(0, Column("case", no_wrap=True, min_width=12))
    for row in rows:
        table.add_row(row["number"], (row["opened_at"] or "")[:16].replace("T", " "), row["status"],
                      row["urgency"], str(row["reports"]), str(row["evidence"]),
                      safe(", ".join(row["alleged_senders"]))[:40], safe(row["title"])[:50])
    Console(highlight=False).print(table if rows else "No cases.")


def _evidence_table(items: list[dict[str, Any]]) -> Table:
    table = Table("#", "kind", "complete", "from", "date", "subject / file", "origin / authentication", "problems",
                  title="Evidence")
    for item in items:
        sender = item["from"]["address"] or item["from"]["name"] or ""
        label = item["subject"] or item["filename"] or item["content_type"] or ""
        table.add_row(str(item["id"]), item["kind"], item["completeness"], safe(sender),
                      safe(item["date"] or "")[:31], safe(label)[:50], safe(_analysis_line(item.get("analysis"))),
                      safe("; ".join(item["problems"][:3]))[:60])
    return table


def _analysis_line(analysis: dict[str, Any] | None) -> str:
    """'203.0.113.7 (confirmed); DKIM pass d=example.org' from a stored header analysis."""
    if not analysis:
        return "-"
    parts = []
    origin = (analysis.get("trace") or {}).get("origin") or {}
    if origin:
        parts.append(f"{origin.get('ip') or 'origin unknown'} ({origin.get('confidence', '?')})")
    parts.append((analysis.get("auth") or {}).get("summary", ""))
    return "; ".join(p for p in parts if p)[:90]


def _render(detail: dict[str, Any]) -> Group:
    head = (f"[b]{detail['number']}[/b]  {detail['status']}  urgency: {detail['urgency']}  "
            f"org: {detail['organisation']}\n{safe(detail['title'])}")
    reports = Table("report", "received", "reporter", "subject", "stored message", title="Reports")
    for rep in detail["reports"]:
        who = rep["reporter"]["address"] or rep["reporter"]["name"] or (
            f"anonymous (code {detail['reporter_code']})" if rep["anonymous"] else "(unknown)")
        reports.add_row(str(rep["id"]), (rep["received_at"] or "")[:16], safe(who), safe(rep["subject"])[:50],
                        str(rep["raw_message_id"]))
    parties = Table("role", "address", "name", title="Parties")
    for party in detail["parties"]:
        parties.add_row(party["role"], safe(party["address"]), safe(party["name"]))
    timeline = Table("at", "actor", "action", title="Timeline")
    for event in detail["timeline"]:
        timeline.add_row((event["at"] or "")[:19], safe(event["actor"]), event["action"])
    return Group(Panel(head, expand=False), reports, _evidence_table(detail["evidence"]), parties, timeline)


@cases_group.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
@click.option("--raw", "raw_id", type=int, help="Write stored message N's original bytes.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default="-",
              help="Where --raw writes (default: standard output).")
@click.option("--reason", help="Why (required for --raw of an anonymous report; audited).")
@pass_ctx
@handle_errors
def show_command(state: Context, number: str, as_json: bool, raw_id: int | None, output: str,
                 reason: str | None) -> None:
    """Show a case: reports, evidence with completeness, parties, timeline."""
    with transaction(state.app.factory) as session:
        detail = queries.case_detail(session, number, actor=state.viewer)
        # Displaying a case is reading it: it stops the case's read deadline (no report left unread).
        mark_seen(session, state.app.settings, queries.get_case(session, detail["number"]), state.viewer.name,
                  datetime.now(UTC), via="cases show")
        if raw_id is not None:
            allowed = {r["raw_message_id"] for r in detail["reports"]} | set(detail["other_messages"])
            if raw_id not in allowed:
                raise click.ClickException(f"message {raw_id} does not belong to case {detail['number']}")
            if raw_id in {r["raw_message_id"] for r in detail["reports"] if r["anonymous"]}:
                # The original bytes name the reporter: reading them is a reveal.
                reveal(session, state.app.settings, state.actor, queries.get_case(session, number), reason or "")
            content = queries.raw_message_bytes(session, raw_id)
    if raw_id is not None:
        if output == "-":
            sys.stdout.buffer.write(content)
        else:
            Path(output).write_bytes(content)
        return
    if as_json:
        click.echo(json.dumps(detail, indent=2, ensure_ascii=False, default=str))
        return
    Console(highlight=False).print(_render(detail))


def register(group: click.Group) -> None:
    group.add_command(cases_group)
