"""`stopit api serve|call|methods` and `stopit whoami`: the local staff API (docs/api.md).

`api serve` runs the socket alone (`stopit serve` runs it beside the mailbox); `api call` sends
one raw request, for scripts and for checking what a command would get; `whoami` says who the
service believes you are.
"""

from __future__ import annotations

import json
import logging
import os

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.output import JSON_OPTION, report


@click.group("api")
def api_group() -> None:
    """The local staff API: a versioned JSON API on a Unix socket (docs/api.md)."""


@api_group.command("serve")
@pass_ctx
@handle_errors
def serve_command(state: Context) -> None:
    """Serve only the staff API socket until SIGTERM or Ctrl-C (service account); SIGHUP rereads [[staff]]."""
    from stopit_mail.api.server import ApiServer
    from stopit_mail.server import StopSignals

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.umask(0o077)  # the database, keys and raw store belong to the service account alone
    signals = StopSignals()  # before the socket exists, so an early SIGTERM is still a clean stop
    try:
        server = ApiServer(state.app, state.config_path)
        server.start()
        why = signals.wait(server.alive)
        server.stop()
    finally:
        signals.restore()
    raise SystemExit(0 if why in ("SIGTERM", "SIGINT") else 1)


@api_group.command("call")
@click.argument("method")
@click.argument("params", default="{}")
@pass_ctx
@handle_errors
def call_command(state: Context, method: str, params: str) -> None:
    """Call METHOD with PARAMS (a JSON object) and print the result as JSON."""
    try:
        values = json.loads(params)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="PARAMS") from exc
    if not isinstance(values, dict):
        raise click.BadParameter("expected a JSON object", param_hint="PARAMS")
    report(state.call(method, **values), True, "")


@api_group.command("methods")
def methods_command() -> None:
    """List the API's methods with their parameters."""
    from stopit_mail.api.registry import METHODS, method_names

    for name in method_names():
        spec = METHODS[name]
        click.echo(f"{name:<22} ({', '.join(sorted(spec.params)) or '-'}): {spec.doc}")


@click.command("whoami")
@JSON_OPTION
@pass_ctx
@handle_errors
def whoami_command(state: Context, as_json: bool) -> None:
    """Who the service says you are: Unix account, staff member, roles, organisations."""
    me = state.call("whoami")
    orgs = ", ".join(me["organisations"]) or "all"
    service = " (the service account)" if me["service_account"] else ""
    report(me, as_json, f"{me['staff'] or '(no staff member named: use --as)'}: Unix account {me['unix_user']}{service}; roles: "
                        f"{', '.join(me['roles']) or '-'}; organisations: {orgs}")


def register(group: click.Group) -> None:
    group.add_command(api_group)
    group.add_command(whoami_command)
