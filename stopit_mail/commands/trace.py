"""`stopit trace FILE|-`: header forensics for any .eml, no database or configuration needed.

A mail administrator can run it on its own: the hop table from sender to recipient, the
origin verdict with its confidence, the anomalies, and DKIM/ARC/alignment verdicts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from stopit_mail.commands.output import json_text
from stopit_mail.config import HeaderSettings
from stopit_mail.headers.analysis import HeaderPolicy
from stopit_mail.headers.report_trace import trace_report
from stopit_mail.textsafe import markup_safe as safe


def _hop_table(trace: dict[str, Any]) -> Table:
    # Hops are numbered by header position (0 = the newest, topmost Received), as the anomaly
    # explanations number them; rows run from the sender outwards.
    table = Table("hop", "from (helo / rdns / ip)", "by", "with", "time", "delay", "trusted", "written by",
                  title="Received chain, sender first (hop = header position, 0 = newest)")
    for hop in trace["hops"]:
        origin = " / ".join(x for x in (hop.get("from_helo"), hop.get("from_rdns"), hop.get("from_ip")) if x)
        if hop.get("from_ip_class") and hop["from_ip_class"] != "public":
            origin += f" ({hop['from_ip_class']})"
        delay = hop.get("delay_seconds")
        flag = "" if hop.get("parsed_ok", True) else " [unparsed]"
        table.add_row(str(hop["position"]), safe(origin or "-") + flag, safe(hop.get("by_host") or "-"),
                      safe(hop.get("protocol") or "-"), safe((hop.get("timestamp") or "-")[:25]),
                      "-" if delay is None else f"{delay:+.0f}s", "yes" if hop.get("trusted") else "no",
                      hop.get("written_by") or "-")
    return table


def _auth_table(auth: dict[str, Any]) -> Table:
    table = Table("signature", "algorithm", "verdict", "reason", "aligned (relaxed/strict)", title="DKIM")
    aligned = {a["index"]: a for a in auth.get("alignments", [])}
    for sig in auth.get("dkim", []):
        align = aligned.get(sig.get("index"))
        align_text = f"{'yes' if align['relaxed'] else 'no'}/{'yes' if align['strict'] else 'no'}" if align else "-"
        name = f"d={sig.get('domain') or '?'} s={sig.get('selector') or '?'}"
        warnings = "; ".join(sig.get("warnings") or [])
        reason = (sig.get("reason") or "") + (f" ({warnings})" if warnings else "")
        table.add_row(safe(name), safe(sig.get("algorithm") or "-"), sig.get("verdict", "?"), safe(reason), align_text)
    return table


def render_analysis(analysis: dict[str, Any]) -> Group:
    """A readable report of one analysis (used by `trace` and `cases show`)."""
    trace, auth = analysis["trace"], analysis["auth"]
    origin = trace["origin"]
    verdict = (f"[b]Origin:[/b] {safe(origin.get('ip') or 'unknown')} ({safe(origin.get('ip_class') or '-')}), "
               f"confidence [b]{origin['confidence']}[/b]\n{safe(origin.get('explanation'))}")
    for reason in origin.get("reasons") or []:
        if reason not in (origin.get("explanation") or ""):
            verdict += f"\n  - {safe(reason)}"
    transit = trace.get("total_transit_seconds")
    if transit is not None:
        verdict += f"\nTotal transit: {transit:.0f} s over {len(trace['hops'])} hops"
    parts: list[Any] = [_hop_table(trace), Panel(verdict, expand=False)]
    if trace["anomalies"]:
        anomalies = Table("severity", "code", "hop", "explanation", title="Anomalies")
        for item in trace["anomalies"]:
            hop = item.get("hop_position")
            anomalies.add_row(item.get("severity", ""), item["code"], "-" if hop is None else str(hop),
                              safe(item["explanation"]))
        parts.append(anomalies)
    for claim in trace.get("originating_claims", []):
        parts.append(f"Claimed by the sender's webmail (not verified): {safe(json.dumps(claim))}")
    if auth.get("dkim"):
        parts.append(_auth_table(auth))
    arc = auth.get("arc", {})
    parts.append(f"ARC: {arc.get('verdict', 'none')} ({safe(arc.get('reason', ''))})")
    for header in auth.get("authentication_results", []):
        trust = "trusted" if header.get("trusted") else "untrusted (not ours)"
        parts.append(f"Authentication-Results from {safe(header.get('authserv_id') or '?')}: {trust}")
    parts.append(f"[b]Authentication:[/b] {safe(auth.get('summary', ''))}")
    return Group(*parts)


@click.command("trace")
@click.argument("source", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON.")
@click.option("--offline", is_flag=True, help="No DNS: DKIM/ARC report 'temperror: offline'.")
@click.option("--trusted", "trusted", multiple=True, help="A trusted relay (CIDR or host; .domain for a whole domain).")
@click.option("--authserv-id", "authserv_ids", multiple=True, help="An Authentication-Results authserv-id we trust.")
@click.option("--dns-cache", type=click.Path(file_okay=False), help="Folder for the DNS answer cache.")
@click.option("--wrapper", is_flag=True, help="Trace the report itself, not the forwarded original(s) in it.")
def trace_command(source: str, as_json: bool, offline: bool, trusted: tuple[str, ...],
                  authserv_ids: tuple[str, ...], dns_cache: str | None, wrapper: bool) -> None:
    """Trace the forwarded original(s) in a report (or a plain message) and verify DKIM/ARC.

    JSON output is one analysis object, or a list of them when the report holds several
    originals; each says in "traced" what it is an analysis of.
    """
    raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    settings = HeaderSettings(trusted_relays=list(trusted), trusted_authserv_ids=list(authserv_ids))
    try:
        policy = HeaderPolicy.from_settings(settings, Path(dns_cache) if dns_cache else None, offline=offline)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--trusted") from exc
    analyses = trace_report(raw, policy, wrapper=wrapper)
    if as_json:
        payload: Any = analyses[0] if len(analyses) == 1 else analyses
        click.echo(json_text(payload))
        return
    console = Console(highlight=False)
    for analysis in analyses:
        console.print(f"[b]Traced:[/b] {safe(analysis['traced'])}")
        console.print(render_analysis(analysis))


def register(group: click.Group) -> None:
    group.add_command(trace_command)
