"""`stopit serve`, `stopit worker` and `stopit status`: run the mailbox and watch its queues.

The commands are thin: `serve` and `worker` call `stopit_mail.server` (imported when they run),
which owns the threads and the signal handling; `status` prints the staff API's `status` as
tables or JSON, with the watchdog's verdict, and exits 2 when the worker is stopped or stuck.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.textsafe import markup_safe

if TYPE_CHECKING:
    from stopit_mail.cases.detect.model import ModelStatus


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiosmtpd logs every command at INFO; that is noise (and reporters' addresses) in a log.
    logging.getLogger("mail.log").setLevel(logging.DEBUG if verbose else logging.WARNING)
    # The schema check at start-up is not news either.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # The web door logs nothing about requests: uvicorn's connection-level debug lines name the
    # client address, so uvicorn stays at WARNING even with -v (its access log is off anyway).
    logging.getLogger("uvicorn").setLevel(logging.WARNING)


@click.command("serve")
@click.option("--worker/--no-worker", "with_worker", default=None,
              help="Run the processing worker in this process (default: server.run_worker).")
@click.option("--verbose", "-v", is_flag=True, help="Log every SMTP command.")
@pass_ctx
@handle_errors
def serve_command(state: Context, with_worker: bool | None, verbose: bool) -> None:
    """Run the SMTP/LMTP listener (and the web door, unless [web] enabled = false) until SIGTERM or Ctrl-C."""
    from stopit_mail.cases.detect.model import model_status
    from stopit_mail.server import serve

    _setup_logging(verbose)
    # New files (database, raw store, keys) belong to the service account alone (docs/deployment.md).
    os.umask(0o077)
    app = state.upgraded_app()
    if app.key_status is not None and app.key_status.problems:
        # Loud, but not fatal: intake, processing and paging need only the public key.
        click.secho(f"WARNING: {app.key_status.summary()}", fg="red", bold=True, err=True)
    # The worker (a child process, or a thread here) loads its own model; this only checks it.
    _announce_triage_model(model_status())
    try:
        status = serve(app, with_worker, state.config_path)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {app.settings.server.listen} / web "
                                   f"{app.settings.web.listen}: {exc.strerror or exc}") from exc
    raise SystemExit(status)


@click.command("web")
@click.option("--verbose", "-v", is_flag=True, help="Debug logging (never request details).")
@pass_ctx
@handle_errors
def web_command(state: Context, verbose: bool) -> None:
    """Run only the web reporting door (reports are processed by `stopit serve` or `stopit worker`)."""
    from stopit_mail.server import serve_web

    _setup_logging(verbose)
    app = state.app
    try:
        status = serve_web(app)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {app.settings.web.listen}: {exc.strerror or exc}") from exc
    raise SystemExit(status)


@click.command("worker")
@click.option("--once", is_flag=True, help="Process what is waiting, deliver what is due, then exit.")
@click.option("--verbose", "-v", is_flag=True, help="Debug logging.")
@click.option("--supervised", is_flag=True, hidden=True,
              help="Run as the child of `serve`: memory cap, woken by standard input, stopped by its end.")
@pass_ctx
@handle_errors
def worker_command(state: Context, once: bool, verbose: bool, supervised: bool) -> None:
    """Process stored messages and deliver the outbox (without the listener)."""
    from stopit_mail.server import lower_priority, run_worker

    _setup_logging(verbose)
    from stopit_mail.cases.detect.service import start_detector

    app = state.upgraded_app()
    if supervised:
        lower_priority(app.settings.server.worker_nice)
    _announce_triage_model(start_detector(app.settings))
    raise SystemExit(run_worker(app, once=once, supervised=supervised))


def _announce_triage_model(status: ModelStatus) -> None:
    """Say loudly, at start-up, when triage runs without its model."""
    if not status.available:
        click.secho(f"TRIAGE MODEL UNAVAILABLE: {status.detail}. Triage runs on rules only and every report "
                    f"is at least urgent until this is fixed.", err=True, fg="red", bold=True)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_ctx
@handle_errors
def status_command(state: Context, as_json: bool) -> None:
    """Queue depths, outbox backlog, oldest waiting message and the latest errors."""
    report = state.call("status")
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print_status(report)
    if not report["worker"]["ok"]:
        # Monitoring reads the exit status: a stopped or stuck worker is an outage.
        raise SystemExit(2)


def _print_bank(console: Console, bank: dict[str, Any] | None) -> None:
    """The worker's bank of reviewed examples: plain when ready, loud while embedding or failed."""
    if not bank:
        return
    detail = markup_safe(bank["detail"])
    if bank["state"] == "ready":
        console.print(f"Triage bank: {detail}")
    elif bank["state"] == "embedding":
        since = "" if bank["since"] is None else f" for {_age(max(0.0, time.time() - bank['since']))}"
        console.print(f"[bold yellow]TRIAGE BANK STILL EMBEDDING{since}: {detail}; until it is done reports are "
                      f"triaged on rules only and every report is at least urgent[/]")
    elif bank["state"] == "failed":
        console.print(f"[bold red]TRIAGE BANK FAILED: {detail}; reports are triaged on rules only and every "
                      f"report is at least urgent[/]")
    else:
        console.print(f"Triage bank: {detail}")


def _print_status(report: dict[str, Any]) -> None:
    console = Console(highlight=False)
    queues = Table("queue", "status", "count", title="Queues")
    for status, count in report["raw_messages"].items():
        queues.add_row("incoming", status, str(count))
    for status, count in report["outbox"].items():
        queues.add_row("outbox", status, str(count))
    console.print(queues)
    console.print(f"Oldest waiting message: {_age(report['oldest_waiting_seconds'])}")
    model = report["triage_model"]
    if model["available"]:
        console.print(f"Triage model: {markup_safe(model['name'])} ({markup_safe(model['detail'])})")
        _print_bank(console, report.get("triage_bank"))
    else:
        console.print(f"[bold red]TRIAGE MODEL UNAVAILABLE: {markup_safe(model['detail'])}; rules only, "
                      f"every report at least urgent[/]")
    esc = report["escalations"]
    line = (f"Emergencies being paged: {esc['active']} (overdue pages: {esc['overdue']}, "
            f"repeating the chain: {esc['repeating']})")
    if esc["impossible"]:
        line += f"\n[bold red]{esc['impossible']} EMERGENCY CASE(S) PAGED NOBODY: see `stopit escalations`[/]"
    console.print(line)
    if report["overdue_reports"]:
        unread = Table("case", "urgency", "read deadline", "overdue", "paged", title="[bold red]Reports nobody has opened[/]")
        for row in report["overdue_reports"]:
            unread.add_row(row["case"], row["urgency"], row["due_at"][:16].replace("T", " "),
                           _age(row["overdue_seconds"]), "yes" if row["paged"] else "not yet")
        console.print(unread)
    key = report["identity_key"]
    if key is not None:
        console.print(markup_safe(key["summary"]) if key["can_reveal"] and not key["problems"]
                      else f"[bold red]{markup_safe(key['summary'])}[/]")
    if report["recent_quarantine"]:
        table = Table("message", "received", "reason", title="Recently quarantined")
        for row in report["recent_quarantine"]:
            table.add_row(str(row["id"]), (row["received_at"] or "")[:16].replace("T", " "),
                          markup_safe(row["reason"] or ""))
        console.print(table)
    if report["recent_outbox_errors"]:
        table = Table("outbox", "kind", "status", "attempts", "last error", title="Recent delivery errors")
        for row in report["recent_outbox_errors"]:
            table.add_row(str(row["id"]), row["kind"], row["status"], str(row["attempts"]),
                          markup_safe(row["error"] or ""))
        console.print(table)
    worker = report["worker"]
    if worker["ok"]:
        console.print(f"Workers running: {worker['running']}")
    for problem in worker["problems"]:
        console.print(f"[bold red]WORKER PROBLEM: {markup_safe(problem)}[/]")


def register(group: click.Group) -> None:
    for command in (serve_command, worker_command, status_command, web_command):
        group.add_command(command)
