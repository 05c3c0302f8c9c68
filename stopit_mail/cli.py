"""The `stopit` command: a thin click group over the services.

Commands find the installation through --config (or STOPIT_CONFIG, or ./stopit.toml), turn
StopitError into a one-line message with exit status 1, and never print message text without
`terminal_safe` (it is written by strangers, sometimes hostile ones).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from stopit_mail import __version__
from stopit_mail.errors import ConfigError, StopitError

if TYPE_CHECKING:
    # Imported lazily at run time: `stopit --version` and `--help` should not pay for SQLAlchemy.
    from sqlalchemy.orm import Session

    from stopit_mail.app import App
    from stopit_mail.cases.staff import Actor
    from stopit_mail.models import Case


class Context:
    """Per-invocation state: where the configuration is, and the opened installation."""

    def __init__(self, config_path: str, as_name: str | None = None) -> None:
        self.config_path = config_path
        self.as_name = as_name
        self._app: App | None = None

    @property
    def app(self) -> App:
        """Open the installation on first use (config validated, schema version checked).

        Staff commands never migrate: a migration check per command costs more than the
        command itself. `stopit init`, `serve`, `worker` and `db upgrade` bring the schema up
        to date; any other command on an older schema says to run `stopit db upgrade`.
        """
        if self._app is None:
            from stopit_mail.app import open_app

            self._app = open_app(self.config_path, migrate=False, check_schema=True)
        return self._app

    def upgraded_app(self) -> App:
        """Open the installation and bring its schema to this version (serve, worker, db upgrade)."""
        if self._app is None:
            from stopit_mail.app import open_app

            self._app = open_app(self.config_path, migrate=True)
        return self._app

    @property
    def actor(self) -> Actor:
        """The acting staff member (--as, STOPIT_STAFF, or staff_name), checked against [[staff]]."""
        from stopit_mail.cases.staff import resolve_actor

        return resolve_actor(self.app.settings, self.as_name)

    @property
    def viewer(self) -> Actor:
        """Who is reading, for read-only commands (list, show, search, audit, stats).

        Like `actor`, except that an installation with no [[staff]] configured lets an unnamed
        reader look (there is no one to restrict them against); with staff configured, the
        reader must say who they are and sees only their organisations.
        """
        from stopit_mail.cases.staff import Actor, PermissionDenied, resolve_actor

        try:
            return resolve_actor(self.app.settings, self.as_name)
        except PermissionDenied:
            raise
        except StopitError:
            if self.app.settings.staff:
                raise
            return Actor(name="(unnamed reader)", restricted=False)

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
COMMAND_MODULES = ("init", "ingest", "cases", "casework", "casework_mail", "export", "offenders", "notice", "quarantine", "serve",
                   "trace", "escalation", "audit", "stats", "db", "abuse", "key", "triage", "reveal", "retention")
# Where each top-level command lives. A name missing here still works: it loads every module.
# `cases` gathers subcommands from several modules.
_COMMAND_HOMES: dict[str, tuple[str, ...]] = {
    "init": ("init",), "ingest": ("ingest",),
    "cases": ("cases",),
    "reply": ("casework_mail",), "reveal": ("reveal",), "notice": ("notice",),
    "quarantine": ("quarantine",), "serve": ("serve",), "worker": ("serve",), "status": ("serve",),
    "trace": ("trace",), "ack": ("escalation",), "escalations": ("escalation",), "audit": ("audit",),
    "stats": ("stats",), "db": ("db",), "verify-export": ("export",), "offenders": ("offenders",),
    "key": ("key",), "triage": ("triage",), "retention": ("retention",),
}


# Where each `stopit cases` subcommand lives: `cases list` need not import what `report-abuse`
# (DKIM, DNS) or `refer` (Jinja2, image redaction) needs. A name missing here loads them all.
_CASES_HOMES: dict[str, tuple[str, ...]] = {
    "list": ("cases",), "show": ("cases",), "refer": ("casework_mail",), "consent": ("casework_mail",),
    "export": ("export",), "report-abuse": ("abuse",), "hold": ("retention",), "release": ("retention",),
    "seen": ("escalation",),
    **dict.fromkeys(("assign", "note", "status", "close", "reopen", "merge", "classify", "search"), ("casework",)),
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
@click.option("--as", "as_name", metavar="NAME", help="Act as this staff member (default: STOPIT_STAFF or staff_name).")
@click.version_option(__version__, prog_name="stopit")
@click.pass_context
def main(click_ctx: click.Context, config_path: str, as_name: str | None) -> None:
    """stopit-mail: the harassment-reporting mailbox, for staff."""
    state = Context(config_path, as_name)
    click_ctx.obj = state
    click_ctx.call_on_close(state.close)
