"""`stopit stats`: figures for an annual report, as a table, JSON, or an HTML chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.columns import table
from stopit_mail.commands.output import json_text, parse_since


def _shares(title: str, rows: list[dict[str, Any]]) -> str:
    return table((title, "cases", "share"), [(row["name"], f"{row['cases']:,}", f"{row['share'] * 100:.0f}%")
                                             for row in rows], shrink=(0,), right=(1, 2))


def summary_lines(stats: dict[str, Any]) -> list[str]:
    """The headline figures, one `label: value` line each."""
    from stopit_mail.cases.durations import format_duration

    first, acks, stop = stats["first_staff_action"], stats["emergency_acknowledgement"], stats["stop_rate"]
    rate = "n/a" if stop["rate"] is None else f"{stop['rate'] * 100:.0f}%"
    return [
        f"period: {(stats['since'] or 'all time')[:10]} to {stats['until'][:10]}",
        f"organisation: {stats['organisation'] or 'all visible'}",
        f"cases: {stats['cases']} (reports: {stats['reports']})",
        f"median time to first staff action: {format_duration(first['median_seconds'])} "
        f"({first['measured']} cases; {first['awaiting']} awaiting one)",
        f"median time to acknowledge an emergency: {format_duration(acks['median_seconds'])} "
        f"({acks['acknowledged']} acknowledged; {acks['unacknowledged']} not)",
        f"notices sent: {stats['notices_sent']}",
        f"stop rate ({stop['window_days']} days): {rate}: {stop['stopped']} stopped, "
        f"{stop['reported_again']} reported again, {stop['pending']} pending",
    ]


def _months(rows: list[dict[str, Any]], last: int = 12) -> str:
    return table(("month", "cases", "emergencies", "closed since"), [
        (row["month"], f"{row['cases']:,}", f"{row['emergencies']:,}", f"{row['closed']:,}") for row in rows[-last:]],
        right=(1, 2, 3), title=f"Last {last} months with cases")


def _years(rows: list[dict[str, Any]]) -> str:
    """The annual-report table: one line per year."""
    years: dict[str, list[int]] = {}
    for row in rows:
        totals = years.setdefault(row["month"][:4], [0, 0, 0])
        for index, key in enumerate(("cases", "emergencies", "closed")):
            totals[index] += row[key]
    return table(("year", "cases", "emergencies", "closed since"), [
        (year, f"{cases:,}", f"{emergencies:,}", f"{closed:,}") for year, (cases, emergencies, closed) in sorted(
            years.items())], right=(1, 2, 3), title="By year")


@click.command("stats")
@click.option("--since", help="Cases opened since: 30d, 12w or an ISO date (default: all time).")
@click.option("--org", "organisation", metavar="SLUG", help="Only this organisation.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--chart", "chart", type=click.Path(dir_okay=False, writable=True),
              help="Also write the figures as an HTML page with bar charts.")
@pass_ctx
@handle_errors
def stats_command(state: Context, since: str | None, organisation: str | None, as_json: bool,
                  chart: str | None) -> None:
    """Cases by category and urgency, response times, notices and the stop rate."""
    # The configuration is loaded only to check --org (and to name it on a chart): without
    # them the figures come from the service, which has it loaded already.
    if organisation and state.settings.organisation(organisation) is None:
        known = ", ".join(o.slug for o in state.settings.organisations)
        raise click.BadParameter(f"no organisation {organisation!r} (known: {known})", param_hint="--org")
    since_at = parse_since(since)
    stats = state.call("stats", organisation=organisation, since=since_at.isoformat() if since_at else None)
    if chart:
        from stopit_mail.cases.chart import render_html

        org = state.settings.organisation(organisation) if organisation else None
        heading = f"stopit statistics: {org.name}" if org else "stopit statistics"
        Path(chart).write_text(render_html(stats, heading), encoding="utf-8")
    if as_json:
        click.echo(json_text(stats))
        return
    blocks = ["\n".join(summary_lines(stats)), _shares("category", stats["categories"]),
              _shares("urgency", stats["urgency"]),
              _shares("time to first staff action", stats["first_staff_action"]["distribution"])]
    if stats["outcomes"]:
        blocks.append(_shares("outcome of closed cases", stats["outcomes"]))
    blocks += [_months(stats["by_month"]), _years(stats["by_month"])]
    if chart:
        blocks.append(f"chart written to {chart}")
    click.echo("\n\n".join(blocks))


def register(group: click.Group) -> None:
    group.add_command(stats_command)
