"""`stopit reveal CASE --reason`, and the two-person flow: `reveal approve|deny|requests`.

Without `reveal_approval` on the case's organisation, `reveal CASE` unseals at once (reveal
role, reason, audited). With it, the first `reveal CASE` files a request; once a different
staff member with the approver role has run `reveal approve N`, the same `reveal CASE` shows
the identity until the window closes.
"""

from __future__ import annotations

from typing import Any

import click

from stopit_mail.cli import Context, handle_errors, pass_ctx
from stopit_mail.commands.output import JSON_OPTION, report
from stopit_mail.textsafe import terminal_safe


class _CaseOrSubcommand(click.Group):
    """`reveal CASE ...` runs the `case` subcommand; `reveal approve N` and friends run theirs."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["case", *args]
        return super().parse_args(ctx, args)


@click.group("reveal", cls=_CaseOrSubcommand)
def reveal_group() -> None:
    """Reveal an anonymous reporter: `reveal CASE --reason ...` (reveal role; audited)."""


@reveal_group.command("case", hidden=True)
@click.argument("number")
@click.option("--reason", required=True, help="Why the identity must be revealed (kept in the audit log).")
@JSON_OPTION
@pass_ctx
@handle_errors
def case_command(state: Context, number: str, reason: str, as_json: bool) -> None:
    """Reveal (or, where approval is configured, request to reveal) the reporters of case NUMBER."""
    done = state.call("reveal.case", number=number, reason=reason)
    if as_json:
        report(done, True, "")
    elif done["state"] == "requested":
        click.echo(f"reveal request {done['request']} on {done['case']} is waiting for approval: a different staff "
                   f"member with the approver role runs `stopit reveal approve {done['request']} --reason ...`; "
                   "then run this command again")
    elif not done["identities"]:
        click.echo(f"{done['case']} has no anonymous reporter")
    for identity in [] if as_json else done["identities"]:
        click.echo(terminal_safe(f"{identity['name']} <{identity['address']}>".strip()))


def _decide(state: Context, request_id: int, reason: str, approve: bool, as_json: bool) -> None:
    done = state.call("reveal.approve" if approve else "reveal.deny", request=request_id, reason=reason)
    expires = (done["expires_at"] or "")[:16]
    report(done, as_json, f"reveal request {request_id} approved; {done['requested_by']} may reveal until {expires}"
           if approve else f"reveal request {request_id} denied")


@reveal_group.command("approve")
@click.argument("request_id", type=int)
@click.option("--reason", required=True, help="Why the reveal is justified (kept in the audit log).")
@JSON_OPTION
@pass_ctx
@handle_errors
def approve_command(state: Context, request_id: int, reason: str, as_json: bool) -> None:
    """Approve reveal request REQUEST_ID (approver role; not your own request)."""
    _decide(state, request_id, reason, True, as_json)


@reveal_group.command("deny")
@click.argument("request_id", type=int)
@click.option("--reason", required=True, help="Why the reveal is refused (kept in the audit log).")
@JSON_OPTION
@pass_ctx
@handle_errors
def deny_command(state: Context, request_id: int, reason: str, as_json: bool) -> None:
    """Deny reveal request REQUEST_ID (approver role)."""
    _decide(state, request_id, reason, False, as_json)


@reveal_group.command("requests")
@JSON_OPTION
@pass_ctx
@handle_errors
def requests_command(state: Context, as_json: bool) -> None:
    """List reveal requests on your organisations' cases, with their state."""
    rows: list[dict[str, Any]] = state.call("reveal.requests")
    if as_json:
        report(rows, True, "")
        return
    if not rows:
        click.echo("No reveal requests.")
    for row in rows:
        decided = f", {row['state']} by {row['decided_by']}" if row["decided_by"] else ""
        click.echo(terminal_safe(f"{row['id']:>4}  {row['case']}  {row['state']:<8}  by {row['requested_by']}"
                                 f"{decided}: {row['reason']}"))


def register(group: click.Group) -> None:
    group.add_command(reveal_group)
