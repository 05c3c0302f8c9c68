"""The `stopit` command: a thin click group over the services.

Commands find the installation through --config (or STOPIT_CONFIG, or ./stopit.toml), turn
StopitError into a one-line message with exit status 1, and never print message text without
`terminal_safe` (it is written by strangers, sometimes hostile ones).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy.orm import Session

from stopit_mail import __version__
from stopit_mail.app import App, open_app
from stopit_mail.cases.queries import get_case
from stopit_mail.cases.staff import Actor, PermissionDenied, resolve_actor
from stopit_mail.db import transaction
from stopit_mail.errors import ConfigError, StopitError
from stopit_mail.models import Case


class Context:
    """Per-invocation state: where the configuration is, and the opened installation."""

    def __init__(self, config_path: str, as_name: str | None = None) -> None:
        self.config_path = config_path
        self.as_name = as_name
        self._app: App | None = None

    @property
    def app(self) -> App:
        """Open the installation on first use (config validated, schema migrated)."""
        if self._app is None:
            self._app = open_app(self.config_path)
        return self._app

    @property
    def actor(self) -> Actor:
        """The acting staff member (--as, STOPIT_STAFF, or staff_name), checked against [[staff]]."""
        return resolve_actor(self.app.settings, self.as_name)

    @property
    def viewer(self) -> Actor:
        """Who is reading, for read-only commands (list, show, search, audit, stats).

        Like `actor`, except that an installation with no [[staff]] configured lets an unnamed
        reader look (there is no one to restrict them against); with staff configured, the
        reader must say who they are and sees only their organisations.
        """
        try:
            return resolve_actor(self.app.settings, self.as_name)
        except PermissionDenied:
            raise
        except StopitError:
            if self.app.settings.staff:
                raise
            return Actor(name="(unnamed reader)", restricted=False)

    @contextmanager
    def case_action(self, number: str) -> Iterator[tuple[Session, Case, Actor]]:
        """One transaction acting on case NUMBER as the current staff member."""
        actor = self.actor
        with transaction(self.app.factory) as session:
            yield session, get_case(session, number), actor

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


pass_ctx = click.make_pass_decorator(Context)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our exceptions into click errors (one message, exit 1) at the boundary."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        except StopitError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", "config_path", envvar="STOPIT_CONFIG", default="stopit.toml",
              show_default=True, help="Path to stopit.toml (or its folder).")
@click.option("--as", "as_name", metavar="NAME", help="Act as this staff member (default: STOPIT_STAFF or staff_name).")
@click.version_option(__version__, prog_name="stopit")
@click.pass_context
def main(click_ctx: click.Context, config_path: str, as_name: str | None) -> None:
    """stopit-mail: the harassment-reporting mailbox, for staff."""
    state = Context(config_path, as_name)
    click_ctx.obj = state
    click_ctx.call_on_close(state.close)


def _register_commands() -> None:
    from stopit_mail.commands import (
        audit,
        cases,
        casework,
        casework_mail,
        escalation,
        ingest,
        init,
        notice,
        quarantine,
        serve,
        stats,
        trace,
        triage,
    )

    for module in (init, ingest, cases, casework_mail, notice, quarantine, serve, trace, escalation,
                   casework, audit, stats, triage):
        module.register(main)


_register_commands()
