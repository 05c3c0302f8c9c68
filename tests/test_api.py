"""The local staff API (issue 11): versioned JSON on a Unix socket, the caller named by the kernel.

These tests run as whoever runs the suite, who owns the installation they create and so is its
service account; tests/test_staff_users.py adds two real local users when the suite runs as root.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from stopit_mail.api import DEFAULT_DATA_DIR, DEFAULT_SOCKET, socket_in_config, socket_path
from stopit_mail.api.client import ServiceNotRunning, over_socket, request
from stopit_mail.api.registry import method_names
from stopit_mail.api.server import ApiServer
from stopit_mail.app import App, init_installation, open_app
from stopit_mail.config import load_settings
from stopit_mail.errors import ConfigError, StopitError
from stopit_mail.models import Event

from casework_helpers import ingest, latest_case, report
from conftest import REPO, offline_dns
from factories import cli

ME = pwd.getpwuid(os.geteuid()).pw_name
STAFF = """
[[staff]]
name = "Ada"
roles = ["staff", "reveal"]

[[staff]]
name = "Root Admin"
roles = ["staff", "admin"]
unix_user = "{me}"
"""


@dataclass
class Served:
    config: Path
    app: App
    server: ApiServer
    number: str


def short_installation(staff: str = STAFF) -> tuple[Path, Path]:
    """An installation in a short /tmp folder (a socket path must fit in 108 bytes)."""
    base = Path(tempfile.mkdtemp(prefix="stopit-api-"))
    config = init_installation(base, "Example University", "stopit@example.edu")
    offline_dns(config)
    text = config.read_text().replace('socket = "run/stopit.sock"', f'socket = "{base}/run/api.sock"')
    config.write_text(text + staff.format(me=ME))
    return base, config


@contextmanager
def serving(extra: str = "") -> Iterator[Served]:
    """A running API server on a new installation (config plus `extra`) holding one case."""
    base, config = short_installation()
    config.write_text(config.read_text() + extra)
    app = open_app(config)
    ingest(app, report())
    server = ApiServer(app)
    server.start()
    try:
        yield Served(config, app, server, latest_case(app).number)
    finally:
        server.stop()
        app.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def served() -> Iterator[Served]:
    with serving() as running:
        yield running


def raw_call(path: Path, *lines: bytes) -> list[dict[str, object]]:
    """Send request lines on one connection; return the answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(path))
        conn.sendall(b"".join(line + b"\n" for line in lines))
        conn.shutdown(socket.SHUT_WR)
        with conn.makefile("rb") as stream:
            return [json.loads(line) for line in stream]


def staff_events(app: App, action: str) -> list[Event]:
    with app.factory() as session:
        return list(session.scalars(select(Event).where(Event.action == action).order_by(Event.id)))


def test_commands_go_through_the_running_service_as_the_account_the_kernel_names(served: Served) -> None:
    before = served.server.requests_served
    me = json.loads(cli(served.config, "whoami", "--json"))
    assert (me["unix_user"], me["staff"], me["service_account"]) == (ME, "Root Admin", True)
    done = json.loads(cli(served.config, "cases", "note", served.number, "called the parents", "--json"))
    assert done["case"] == served.number
    listed = json.loads(cli(served.config, "cases", "list", "--json"))
    assert [row["number"] for row in listed] == [served.number]
    assert served.server.requests_served == before + 3  # through the socket, not in-process
    [note] = staff_events(served.app, "note-added")
    assert (note.actor, note.unix_user) == ("Root Admin", ME)


def test_as_by_the_service_account_keeps_both_names_in_the_audit(served: Served) -> None:
    cli(served.config, "--as", "Ada", "cases", "assign", served.number, "Ada")
    [event] = staff_events(served.app, "case-assigned")
    assert (event.actor, event.unix_user) == ("Ada", ME)
    audit = json.loads(cli(served.config, "audit", served.number, "--json"))
    assert {"actor": "Ada", "unix_user": ME}.items() <= audit[-1].items()


def test_every_answer_is_versioned_and_errors_have_stable_codes(served: Served) -> None:
    answers = raw_call(
        served.server.path,
        b'{"v": 1, "method": "cases.show", "params": {"number": "' + served.number.encode() + b'"}}',
        b"not json",
        b'{"v": 2, "method": "cases.list"}',
        b'{"v": 1, "method": "cases.drop"}',
        b'{"v": 1, "method": "cases.list", "params": {"limit": 5, "colour": "red"}}',
        b'{"v": 1, "method": "cases.list", "params": {"limit": "many"}}',
        b'{"v": 1, "method": "cases.show", "params": {"number": "SI-1999-0001"}}',
        b'{"v": 1, "method": "retention.run", "as": "Ada"}',
    )
    assert all(answer["v"] == 1 for answer in answers)
    assert answers[0]["ok"] is True and answers[0]["result"]["number"] == served.number  # type: ignore[index]
    codes = [answer["error"]["code"] for answer in answers[1:]]  # type: ignore[index]
    assert codes == ["bad-request", "bad-version", "unknown-method", "bad-request", "bad-request", "not-found",
                     "forbidden"]
    assert "colour" in answers[4]["error"]["message"]  # type: ignore[index]


def test_json_results_of_the_reporting_commands(served: Served) -> None:
    classified = json.loads(cli(served.config, "cases", "classify", served.number, "--urgency", "urgent",
                                "--reason", "threat named a place", "--json"))
    assert (classified["case"], classified["urgency"], classified["escalation_started"]) == \
        (served.number, "urgent", False)
    reply = json.loads(cli(served.config, "reply", served.number, "-m", "We are on it.", "--json"))
    assert reply["via"] == "mail" and isinstance(reply["outbox"], int)
    notice = json.loads(cli(served.config, "notice", "send", served.number, "--yes", "--json"))
    assert notice["template"] == "please-stop" and notice["recipient"] and isinstance(notice["outbox"], int)
    revealed = json.loads(cli(served.config, "--as", "Ada", "reveal", served.number, "--reason", "police asked in writing", "--json"))
    assert revealed["state"] == "revealed" and revealed["case"] == served.number
    seen = json.loads(cli(served.config, "cases", "seen", served.number, "--json"))
    assert seen["by"] == "Root Admin"
    closed = json.loads(cli(served.config, "cases", "close", served.number, "--outcome", "resolved-notice",
                            "--resolution", "stopped", "--json"))
    assert closed["status"] == "closed" and closed["outcome"] == "resolved-notice"


def test_a_caller_with_nobody_named_is_asked_who_is_acting(served: Served) -> None:
    text = served.config.read_text().replace(f'unix_user = "{ME}"', "")
    served.config.write_text(text)
    served.server.app = open_app(served.config)  # the service rereads its staff list
    assert "who is acting?" in cli(served.config, "cases", "list", ok=False)
    # Listings that must never be one error away still answer the service account.
    assert json.loads(cli(served.config, "escalations", "--json")) == []
    served.server.app.close()


def test_the_client_finds_the_socket_where_the_validated_settings_put_it(tmp_path: Path) -> None:
    # Staff commands read only data_dir and api.socket to reach the service; the path must be
    # the one the service (which validates everything) listens on, defaults included.
    from stopit_mail.config import Settings

    assert (Settings().data_dir, Settings().api.socket) == (DEFAULT_DATA_DIR, DEFAULT_SOCKET)
    config = init_installation(tmp_path / "site", "Example University", "stopit@example.edu")
    original = config.read_text()
    for edit in ({}, {'data_dir = "data"': 'data_dir = "../elsewhere"'},
                 {'socket = "run/stopit.sock"': f'socket = "{tmp_path}/api.sock"'},
                 {'data_dir = "data"\n': "", 'socket = "run/stopit.sock"\n': ""}):
        text = original
        for old, new in edit.items():
            assert old in text
            text = text.replace(old, new)
        config.write_text(text)
        assert socket_in_config(config) == socket_in_config(config.parent) == socket_path(load_settings(config))
    # Unreadable or broken: no guess; the full loader then names the mistake.
    config.write_text("data_dir = [")
    assert socket_in_config(config) is None and socket_in_config(tmp_path / "missing.toml") is None
    config.write_text(original.replace('data_dir = "data"', "data_dir = 3"))
    assert socket_in_config(config) is None


def test_a_service_that_does_not_answer_in_time_is_said_plainly(tmp_path: Path) -> None:
    # A request the service takes minutes over (`audit` of millions of events) used to end the
    # command in a TimeoutError traceback.
    import socket

    path = Path(tempfile.mkdtemp(prefix="stopit-mute-")) / "api.sock"
    with socket.socket(socket.AF_UNIX) as mute:
        mute.bind(str(path))
        mute.listen(1)
        with pytest.raises(StopitError, match="did not answer within 0.5 s \\(audit\\)"):
            over_socket(path, request("audit", {}), timeout=0.5)
    shutil.rmtree(path.parent)


def test_no_service_no_answer_is_said_plainly() -> None:
    base, config = short_installation()
    try:
        with pytest.raises(ServiceNotRunning, match="the stopit service is not running"):
            over_socket(socket_path(load_settings(config)), request("whoami", {}))
    finally:
        shutil.rmtree(base)


def test_unix_user_is_validated_like_every_key() -> None:
    for bad, why in (('unix_user = "Pat Morgan"', "expected a Unix user name"),
                     ('unix_user = "root"\n[[staff]]\nname = "B"\nunix_user = "root"', "mapped to two")):
        base, config = short_installation(f'\n[[staff]]\nname = "A"\n{bad}\n')
        try:
            with pytest.raises(ConfigError, match=why):
                load_settings(config)
        finally:
            shutil.rmtree(base)


def test_every_method_is_documented() -> None:
    doc = (REPO / "docs" / "api.md").read_text()
    missing = [name for name in method_names() if f"`{name}`" not in doc]
    assert missing == []


# Commands of the service account alone (they are the service, or open the data folder), and
# commands that open no data at all; every other command is a staff command through the API.
SERVICE_ONLY = {"init", "serve", "worker", "web", "db upgrade", "db version", "ingest", "key backup", "key check",
                "key rotate", "api serve"}
ANYONE = {"trace", "verify-export", "api methods"}


def staff_commands(n: str, out: Path) -> dict[str, list[str]]:
    """Every staff command with arguments for case `n`, in an order that works on one new case."""
    return {
        "cases list": ["cases", "list"], "cases show": ["cases", "show", n], "cases search": ["cases", "search", "help"],
        "cases seen": ["cases", "seen", n], "cases assign": ["cases", "assign", n, "Ada"],
        "cases note": ["cases", "note", n, "spoke to them"], "cases status": ["cases", "status", n, "waiting"],
        "cases classify": ["cases", "classify", n, "--urgency", "urgent", "--reason", "named a place"],
        "cases hold": ["cases", "hold", n, "--reason", "a lawyer's letter"],
        "cases release": ["cases", "release", n, "--reason", "the letter was withdrawn"],
        "cases consent": ["cases", "consent", n, "--reason", "said so by phone"],
        "cases refer": ["cases", "refer", n, "title-ix", "--yes"], "cases report-abuse": ["cases", "report-abuse", n, "--yes"],
        "cases export": ["cases", "export", n, "-o", str(out)],
        "notice preview": ["notice", "preview", n], "notice send": ["notice", "send", n, "--yes"],
        "reply": ["reply", n, "-m", "We read it."], "ack": ["ack", n],
        "confirm": ["confirm", n, "--reason", "a real threat"], "dismiss": ["dismiss", n, "--reason", "a film quote"],
        "escalations": ["escalations"], "quarantine list": ["quarantine", "list"],
        "quarantine show": ["quarantine", "show", "1"], "quarantine retry": ["quarantine", "retry", "1"],
        "offenders list": ["offenders", "list"], "offenders show": ["offenders", "show", "someone@example.com"],
        "offenders link": ["offenders", "link", n, n, "--reason", "same sender"],
        "stats": ["stats"], "audit": ["audit"], "retention plan": ["retention", "plan"], "retention run": ["retention", "run"],
        "reveal case": ["reveal", n, "--reason", "police asked in writing"], "reveal requests": ["reveal", "requests"],
        "reveal approve": ["reveal", "approve", "1", "--reason", "letter seen"],
        "reveal deny": ["reveal", "deny", "1", "--reason", "no letter"],
        "triage examples add": ["triage", "examples", "add", "see you after school", "--label", "negative",
                                "--category", "bullying"],
        "triage examples list": ["triage", "examples", "list"], "triage examples remove": ["triage", "examples", "remove", "1"],
        "cases merge": ["cases", "merge", n, n], "cases reopen": ["cases", "reopen", n],
        "cases close": ["cases", "close", n, "--outcome", "resolved-notice", "--resolution", "stopped"],
        "whoami": ["whoami"], "status": ["status"], "api call": ["api", "call", "whoami"],
    }


def command_paths() -> set[str]:
    """Every leaf command of `stopit`, as 'group sub'."""
    import click

    from stopit_mail.cli import main

    found: set[str] = set()

    def walk(group: click.Group, prefix: str, ctx: click.Context) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if isinstance(command, click.Group):
                walk(command, f"{prefix}{name} ", click.Context(command, parent=ctx))
            elif command is not None:
                found.add(f"{prefix}{name}")

    walk(main, "", click.Context(main))
    return found


def test_every_staff_command_is_listed_so_each_is_checked_against_the_service(tmp_path: Path) -> None:
    listed = set(staff_commands("1", tmp_path))
    assert command_paths() - SERVICE_ONLY - ANYONE == listed


def test_every_staff_command_goes_through_the_running_service(served: Served, tmp_path: Path) -> None:
    """Each reaches the service (whether or not the service then agrees), none opens the data itself."""
    from click.testing import CliRunner

    from stopit_mail.cli import main

    for path, args in staff_commands(served.number, tmp_path / "package").items():
        before = served.server.requests_served
        result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["-c", str(served.config), *args])
        assert served.server.requests_served > before, (path, result.output)
        assert result.exit_code in (0, 1, 2) and "not running" not in result.output, (path, result.output)


def test_a_socket_that_cannot_be_made_never_stops_the_mail(caplog: pytest.LogCaptureFixture) -> None:
    from stopit_mail.api.server import start_api

    base, config = short_installation()
    app = open_app(config)
    try:
        app.settings.api.group = "no-such-group-zz"
        assert start_api(app) is None
        assert "staff API not started" in caplog.text and "no-such-group-zz" in caplog.text
    finally:
        app.close()
        shutil.rmtree(base)


def test_a_stale_socket_is_replaced_and_a_live_one_is_not(served: Served) -> None:
    from stopit_mail.errors import StopitError

    with pytest.raises(StopitError, match="already answers"):
        ApiServer(served.app)
    served.server.stop()
    # A socket file left by a service that died: nothing answers on it.
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(served.server.path))
    dead.close()
    served.server = ApiServer(served.app)
    served.server.start()
    assert json.loads(cli(served.config, "whoami", "--json"))["staff"] == "Root Admin"


def test_cases_seen_is_found_by_a_fresh_process(tmp_path: Path) -> None:
    """`stopit cases seen` lives in the escalation commands; a new process must still find it."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "from stopit_mail.cli import main; main()", "cases", "seen",
                             "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Record that you have read CASE" in result.stdout
