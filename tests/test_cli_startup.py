"""Staff commands start fast: no migration per command, commands imported only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from stopit_mail.app import open_app
from stopit_mail.cli import main
from stopit_mail.db import alembic_config, schema_head


@pytest.fixture
def home(tmp_path: Path) -> Path:
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return tmp_path / "stopit.toml"


def test_schema_head_is_alembics_single_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [schema_head()]


def test_version_and_help_do_not_import_the_database_layer() -> None:
    code = ("import sys; from stopit_mail.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print('sqlalchemy' in sys.modules, 'stopit_mail.commands.cases' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False False")


def test_old_schema_is_named_and_db_upgrade_fixes_it(home: Path) -> None:
    app = open_app(home, migrate=False)
    with app.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    app.close()
    result = CliRunner().invoke(main, ["-c", str(home), "cases", "list"])
    assert result.exit_code == 1
    assert "schema is at 0002" in result.output and "stopit db upgrade" in result.output
    # Put the version back where the schema really is, then upgrade is a no-op that succeeds.
    app = open_app(home, migrate=False)
    with app.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": schema_head()})
    app.close()
    result = CliRunner().invoke(main, ["-c", str(home), "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["-c", str(home), "cases", "list"]).exit_code == 0


def test_a_database_without_schema_says_to_init(tmp_path: Path, home: Path) -> None:
    (home.parent / "data" / "stopit.db").unlink()
    result = CliRunner().invoke(main, ["-c", str(home), "cases", "list"])
    assert result.exit_code == 1 and "stopit init" in result.output


def test_every_command_is_reachable_lazily() -> None:
    result = CliRunner().invoke(main, ["--help"])
    for name in ("cases", "reply", "serve", "status", "trace", "ack", "audit", "stats", "db", "quarantine"):
        assert f"  {name} " in result.output
    assert CliRunner().invoke(main, ["cases", "--help"]).output.count("show") >= 1


def test_every_cases_subcommand_loads_alone_and_cases_list_stays_light() -> None:
    # `cases seen` (README: "stopit cases seen CASE") lives in the escalation module: it used to
    # be "No such command" unless something else had loaded that module.
    for name in ("seen", "list", "show", "search", "refer", "export", "report-abuse", "hold", "close"):
        result = subprocess.run([sys.executable, "-m", "stopit_mail", "cases", name, "--help"],
                                capture_output=True, text=True)
        assert result.returncode == 0 and f"stopit cases {name}" in result.stdout, result.stderr
    code = ("import sys; from stopit_mail.cli import main\n"
            "try:\n    main(['cases', 'list', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('dkim', 'jinja2', 'PIL', 'sqlalchemy.dialects.postgresql') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")
