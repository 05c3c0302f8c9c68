"""The `stopit` command: a thin click group over the services.

Commands find the installation through --config (or STOPIT_CONFIG, or ./stopit.toml), turn
StopitError into a one-line message with exit status 1, and never print message text without
`terminal_safe` (it is written by strangers, sometimes hostile ones).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import Token
from typing import IO, TYPE_CHECKING, Any

import click

from stopit_mail import __version__
from stopit_mail.errors import ConfigError, StopitError

if TYPE_CHECKING:
    # Imported lazily at run time: `stopit --version` and `--help` should not pay for SQLAlchemy.
    from sqlalchemy.orm import Session

    from stopit_mail.app import App
    from stopit_mail.cases.staff import Actor
    from stopit_mail.config import Settings
    from stopit_mail.models import Case


class Context:
    """Per-invocation state: where the configuration is, and the opened installation."""

    def __init__(self, config_path: str, as_name: str | None = None) -> None:
        self.config_path = config_path
        self.as_name = as_name
        self._app: App | None = None
        self._settings: Settings | None = None
        self._unix_token: Token[str | None] | None = None

    @property
    def settings(self) -> Settings:
        """The validated configuration (without opening the database)."""
        if self._app is not None:
            return self._app.settings
        if self._settings is None:
            from stopit_mail.config import load_settings

            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def app(self) -> App:
        """Open the installation on first use (config validated, schema version checked).

        Only the service account (the data folder's owner) opens the installation itself;
        everyone else reaches it through the running service (`call`). Staff commands never
        migrate: `stopit init`, `serve`, `worker` and `db upgrade` bring the schema up to date;
        any other command on an older schema says to run `stopit db upgrade`.
        """
        if self._app is None:
            from stopit_mail.api.identity import check_service_account
            from stopit_mail.app import open_app

            check_service_account(self.settings, service_answered=self._service_answers())
            self._app = open_app(self.config_path, migrate=False, check_schema=True)
        return self._app

    def call(self, method: str, **params: Any) -> Any:
        """Call staff API `method` (docs/api.md): through the service's socket when it answers,
        in-process when this process is the service account; the caller is who the kernel says.
        """
        from stopit_mail.api import socket_in_config
        from stopit_mail.api.client import call

        # Through the socket, the configuration is read for the socket's path alone (see
        # socket_in_config); it is validated in full when this process must act itself.
        hint = None if self._app or self._settings else socket_in_config(self.config_path)
        return call(hint, lambda: self.settings, lambda: self.app, method, params, self._as_requested())

    def download(self, method: str, sink: IO[bytes], **params: Any) -> Any:
        """Call `method` as `call` does; the bytes its answer streams (a package) go to `sink`."""
        from stopit_mail.api import socket_in_config
        from stopit_mail.api.client import call

        hint = None if self._app or self._settings else socket_in_config(self.config_path)
        return call(hint, lambda: self.settings, lambda: self.app, method, params, self._as_requested(), sink=sink)

    def _service_answers(self) -> bool:
        from stopit_mail.api import socket_path

        try:
            return socket_path(self.settings).is_socket()
        except OSError:
            return False

    def _as_requested(self) -> str | None:
        # STOPIT_STAFF (cases.staff.STAFF_ENV), read here without importing the models: a
        # command that goes through the socket needs no SQLAlchemy.
        return self.as_name or os.environ.get("STOPIT_STAFF") or None

    def upgraded_app(self) -> App:
        """Open the installation and bring its schema to this version (serve, worker, db upgrade)."""
        if self._app is None:
            from stopit_mail.app import open_app

            self._app = open_app(self.config_path, migrate=True)
        return self._app

    @property
    def actor(self) -> Actor:
        """The acting staff member, for commands that open the installation themselves.

        The caller is this process's Unix account; only the service account may name someone
        else (--as, STOPIT_STAFF, staff_name), and every event then records both names.
        """
        from stopit_mail import events
        from stopit_mail.api.identity import actor_for, local_caller

        caller = local_caller(self.settings)
        actor = actor_for(self.settings, caller, self._as_requested())
        if self._unix_token is None:
            self._unix_token = events.UNIX_USER.set(caller.user)
        return actor

    @property
    def viewer(self) -> Actor:
        """Who is reading (read-only commands): the same as `actor`."""
        return self.actor

    def admin(self) -> Actor:
        """The acting staff member, who must hold the `admin` role (configuration, keys, intake, retention).

        With no [[staff]] configured the single operator (the data folder's owner) is the admin.
        """
        actor = self.viewer
        actor.check_role("admin")
        return actor

    @contextmanager
    def case_action(self, number: str) -> Iterator[tuple[Session, Case, Actor]]:
        """One transaction acting on case NUMBER as the current staff member."""
        from stopit_mail.cases.queries import get_case
        from stopit_mail.db import transaction

        actor = self.actor
        with transaction(self.app.factory) as session:
            yield session, get_case(session, number), actor

    def close(self) -> None:
        if self._unix_token is not None:
            from stopit_mail import events

            events.UNIX_USER.reset(self._unix_token)
            self._unix_token = None
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


# The modules under stopit_mail.commands; each has `register(group)`. Importing one is what
# costs (SQLAlchemy, the parsers), so a command's modules are imported only when it runs.
COMMAND_MODULES = ("init", "ingest", "cases", "casework", "search", "casework_mail", "export", "offenders", "notice",
                   "quarantine", "serve", "trace", "escalation", "audit", "stats", "db", "abuse", "key", "triage", "reveal",
                   "retention", "api", "verify")
# Where each top-level command lives. A name missing here still works: it loads every module.
# `cases` gathers subcommands from several modules.
_COMMAND_HOMES: dict[str, tuple[str, ...]] = {
    "init": ("init",), "ingest": ("ingest",),
    "cases": ("cases",),
    "reply": ("casework_mail",), "reveal": ("reveal",), "notice": ("notice",),
    "quarantine": ("quarantine",), "serve": ("serve",), "worker": ("serve",), "status": ("serve",),
    "trace": ("trace",), "ack": ("escalation",), "escalations": ("escalation",), "audit": ("audit",),
    "stats": ("stats",), "db": ("db",), "verify-export": ("verify",), "offenders": ("offenders",),
    "key": ("key",), "triage": ("triage",), "retention": ("retention",), "api": ("api",), "whoami": ("api",),
}


# Where each `stopit cases` subcommand lives: `cases list` need not import what `report-abuse`
# (DKIM, DNS) or `refer` (Jinja2, image redaction) needs. A name missing here loads them all.
_CASES_HOMES: dict[str, tuple[str, ...]] = {
    "list": ("cases",), "show": ("cases",), "refer": ("casework_mail",), "consent": ("casework_mail",),
    "export": ("export",), "report-abuse": ("abuse",), "hold": ("retention",), "release": ("retention",),
    "seen": ("escalation",), "search": ("search",),
    **dict.fromkeys(("assign", "note", "status", "close", "reopen", "merge", "classify"), ("casework",)),
}
_CASES_MODULES = tuple(dict.fromkeys(module for homes in _CASES_HOMES.values() for module in homes))


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is used."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: set[str] = set()

    def _load(self, modules: tuple[str, ...]) -> None:
        for name in modules:
            if name not in self._loaded:
                self._loaded.add(name)
                importlib.import_module(f"stopit_mail.commands.{name}").register(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load(_COMMAND_HOMES.get(cmd_name, COMMAND_MODULES))
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load(COMMAND_MODULES)
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load(COMMAND_MODULES)
        return super().list_commands(ctx)


def _load_for(ctx: click.Context, modules: tuple[str, ...]) -> None:
    """Import (and register, through the root group) the command modules a subcommand needs."""
    root = ctx.find_root().command
    if isinstance(root, LazyGroup):
        root._load(modules)
    else:
        for name in modules:
            importlib.import_module(f"stopit_mail.commands.{name}")


class LazyCasesGroup(click.Group):
    """`stopit cases`: its subcommands attach themselves from their modules, imported on demand."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        _load_for(ctx, _CASES_HOMES.get(cmd_name, _CASES_MODULES))
        return super().get_command(ctx, cmd_name) or self._everything(ctx, cmd_name)

    def _everything(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        _load_for(ctx, _CASES_MODULES)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        _load_for(ctx, _CASES_MODULES)
        return super().list_commands(ctx)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", "config_path", envvar="STOPIT_CONFIG", default="stopit.toml",
              show_default=True, help="Path to stopit.toml (or its folder).")
@click.option("--as", "as_name", metavar="NAME",
              help="Service account only: act for this staff member (both names are audited).")
@click.version_option(__version__, prog_name="stopit")
@click.pass_context
def main(click_ctx: click.Context, config_path: str, as_name: str | None) -> None:
    """stopit-mail: the harassment-reporting mailbox, for staff."""
    state = Context(config_path, as_name)
    click_ctx.obj = state
    click_ctx.call_on_close(state.close)
