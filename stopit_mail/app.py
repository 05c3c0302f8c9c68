"""Wire settings, database and services together for the CLI and the server.

`App` is passed explicitly to whatever needs it (no module-level globals), so tests can run
several installations side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.cases.fulltext import ensure_search_index
from stopit_mail.cases.rollups import ensure_rollups
from stopit_mail.cases.triage import CATEGORIES, TriageRulesError, load_rules
from stopit_mail.config import CONFIG_FILENAME, Settings, load_settings
from stopit_mail.db import check_schema as check_schema_version
from stopit_mail.db import make_engine, session_factory, upgrade_database
from stopit_mail.errors import ConfigError
from stopit_mail.keys import KeyStatus, prepare


@dataclass
class App:
    """One installation: its settings, engine and session factory."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    # What time the worker's deadline checks (escalation pages, read deadlines) believe it is:
    # tests replace it to run a 10-minute deadline in a second on the real server.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # What the identity key allows (checked at every start; loud, never a silent new key).
    key_status: KeyStatus | None = None

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def check_casework_config(settings: Settings, rules: bool = True) -> None:
    """Validate what only the casework layer understands: triage rules and office categories.

    Compiling the triage rules (thousands of patterns) takes longer than any staff command, so
    only the service (serve, worker, init, db upgrade) checks them, with `rules=True`.
    """
    problems: list[str] = []
    if rules:
        try:
            load_rules(settings.casework.triage_rules, disabled=settings.casework.disabled_triage_rules)
        except TriageRulesError as exc:
            problems.append(f"casework.triage_rules: {exc}")
    for i, org in enumerate(settings.organisations):
        for j, office in enumerate(org.offices):
            for category in office.categories:
                if category not in CATEGORIES:
                    problems.append(f"organisations[{i}].offices[{j}].categories: found {category!r}, "
                                    f"expected one of {', '.join(CATEGORIES)}")
    if problems:
        raise ConfigError(problems, str(settings.base_dir / CONFIG_FILENAME))


def open_app(config_path: str | Path, migrate: bool = True, check_schema: bool = False,
             create_key: bool = False) -> App:
    """Load and validate the configuration, connect, bring the schema up to date, check the key.

    With `migrate=False, check_schema=True` (what staff commands use) the schema is only
    checked, cheaply, and an out-of-date one raises SchemaOutOfDate. Only `create_key`
    (stopit init) makes an identity key, and only when none exists anywhere.
    """
    settings = load_settings(config_path)
    check_casework_config(settings, rules=migrate)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    if migrate:
        upgrade_database(engine)
        with engine.begin() as connection:
            ensure_search_index(connection)
            ensure_rollups(connection)
    elif check_schema:
        try:
            check_schema_version(engine)
        except Exception:
            engine.dispose()
            raise
    factory = session_factory(engine)
    with factory() as session, session.begin():
        key_status = prepare(settings, session, create=create_key)
    return App(settings, engine, factory, key_status=key_status)


def default_config_text(organisation: str, mailbox: str, database_url: str = "") -> str:
    """The commented stopit.toml that `stopit init` writes, with these values filled in."""
    template = (resources.files("stopit_mail") / "default_config.toml").read_text(encoding="utf-8")
    return (
        template.replace("{organisation}", organisation.replace('"', "'"))
        .replace("{mailbox}", mailbox)
        .replace("{database_url}", database_url)
    )


def init_installation(
    directory: str | Path, organisation: str, mailbox: str, database_url: str = "", force: bool = False
) -> Path:
    """Write stopit.toml into `directory` (unless present) and create the database."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / CONFIG_FILENAME
    if force or not config_path.exists():
        config_path.write_text(default_config_text(organisation, mailbox, database_url), encoding="utf-8")
    open_app(config_path, create_key=True).close()
    return config_path
