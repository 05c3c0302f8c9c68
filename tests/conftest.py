"""Shared fixtures: installations on SQLite (always) and PostgreSQL (when CI provides one).

`STOPIT_TEST_DATABASE_URL` names a PostgreSQL server where the tests may create databases;
each test that asks for `any_db_url` gets a fresh database there, dropped afterwards.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from stopit_mail.app import App, init_installation, open_app

from schema_template import TEST_DATABASE_PREFIX, install_schema_template

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "stopit_mail" / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The shared corpus sits next to the repository; STOPIT_TEST_CORPUS names it for a checkout elsewhere
# (a worktree whose parent folder has no `shared`).
CORPUS = Path(os.environ.get("STOPIT_TEST_CORPUS") or REPO.parent / "shared" / "corpus")
PG_URL = os.environ.get("STOPIT_TEST_DATABASE_URL", "")

# Every worker in the suite (in this process and in the servers tests start) triages with the
# deterministic stand-in instead of loading the model and embedding the whole bank; the tests
# of the model itself build their detector from the real one (test_detect_model.py).
os.environ["STOPIT_TRIAGE_STAND_IN"] = "1"

# New SQLite installations start from a copy of one database migrated for real, once per test
# process, instead of running every migration again (tests/schema_template.py says why that is the
# same database; test_migrations.py and every upgrade of an existing file still migrate for real).
install_schema_template()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "serial: load-sensitive; under pytest-xdist no other test runs while this one does")


@pytest.fixture(autouse=True)
def _process_umask() -> Iterator[None]:
    """Each test starts with the process's umask as the run began: `stopit serve` and `stopit api`
    set 0o077 for the service's files, and run in-process (CliRunner) that would leak into the
    tests that follow in the same process (a private Postfix's spool, created 0700, then refused
    its own `postfix` daemons, and its tests skipped)."""
    before = os.umask(0o022)
    os.umask(before)
    try:
        yield
    finally:
        os.umask(before)


@pytest.fixture(autouse=True)
def _serial_turn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Under pytest-xdist, a `serial` test waits for the other workers' current tests and holds them off.

    Every test takes a shared lock, a serial one an exclusive lock, on a file in the run's common
    temporary folder; a turnstile lock taken first keeps the other workers from starving it.
    Without xdist there is one test at a time anyway and this does nothing.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    shared = tmp_path_factory.getbasetemp().parent
    serial = request.node.get_closest_marker("serial") is not None
    with open(shared / "serial.turnstile", "a") as turnstile, open(shared / "serial.lock", "a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if serial else fcntl.LOCK_SH)
        finally:
            if not serial:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if serial:
                fcntl.flock(turnstile, fcntl.LOCK_UN)


def corpus_or_skip(*parts: str) -> Path:
    """A path inside ../shared/corpus, skipping the test cleanly when it is absent."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus not available at {path}")
    return path


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database URL (skips without STOPIT_TEST_DATABASE_URL)."""
    if not PG_URL:
        pytest.skip("STOPIT_TEST_DATABASE_URL not set")
    admin_url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    name = f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite always; PostgreSQL too when the CI started one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'stopit.db'}"
    return request.getfixturevalue("pg_database")


def offline_dns(config: Path) -> None:
    """Tests never query real DNS: DKIM verdicts become 'temperror: offline' unless a test injects keys."""
    config.write_text(config.read_text().replace('dns = "online"', 'dns = "offline"'))


def make_installation(folder: Path, database_url: str = "") -> App:
    """A fresh installation in `folder` with the default config (DNS offline)."""
    config = init_installation(folder, "Example University", "stopit@example.edu", database_url)
    offline_dns(config)
    return open_app(config)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """A fresh SQLite installation."""
    installation = make_installation(tmp_path)
    yield installation
    installation.close()


@pytest.fixture
def any_app(tmp_path: Path, any_db_url: str) -> Iterator[App]:
    """A fresh installation on each available database."""
    installation = make_installation(tmp_path, any_db_url)
    yield installation
    installation.close()
