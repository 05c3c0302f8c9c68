"""Two real local users against the running service (issue 11): the kernel says who is calling.

Runs only as root (it creates the users and a staff group, and removes them afterwards); skipped
cleanly otherwise. Each user's commands run in a forked child that drops to that user after the
imports (the interpreter may live under a root-only path) and calls the CLI in-process, so the
command really reaches the service over its socket with that user's credentials.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from stopit_mail.api.server import ApiServer
from stopit_mail.app import App, init_installation, open_app
from stopit_mail.cli import main
from stopit_mail.models import Event

from casework_helpers import ingest, latest_case, report
from conftest import offline_dns

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None,
                                reason="creates local users: needs root and useradd")


@dataclass
class Users:
    alice: str
    bob: str
    group: str


@pytest.fixture
def users() -> Iterator[Users]:
    tag = uuid.uuid4().hex[:6]
    made = Users(f"sta{tag}", f"stb{tag}", f"stg{tag}")
    subprocess.run(["groupadd", made.group], check=True)
    try:
        for name in (made.alice, made.bob):
            subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-G", made.group, name], check=True)
        yield made
    finally:
        for name in (made.alice, made.bob):
            subprocess.run(["userdel", name], check=False, capture_output=True)
        subprocess.run(["groupdel", made.group], check=False, capture_output=True)


@dataclass
class Service:
    config: Path
    app: App
    server: ApiServer
    number: str
    data: Path


@pytest.fixture
def service(users: Users) -> Iterator[Service]:
    base = Path(tempfile.mkdtemp(prefix="stopit-users-"))
    base.chmod(0o755)  # the config is readable by staff; the data folder is not
    config = init_installation(base, "Example University", "stopit@example.edu")
    offline_dns(config)
    text = config.read_text().replace('socket = "run/stopit.sock"', f'socket = "{base}/run/stopit.sock"')
    text = text.replace('group = ""', f'group = "{users.group}"').replace("reveal_approval = false",
                                                                           "reveal_approval = true")
    config.write_text(text + f"""
[[organisations]]
slug = "west"
name = "West College"
mailboxes = ["stopit@west.example"]
case_prefix = "WC"

[[staff]]
name = "Alice"
roles = ["staff", "reveal"]
unix_user = "{users.alice}"

[[staff]]
name = "Bob"
roles = ["staff", "approver"]
unix_user = "{users.bob}"
""")
    config.chmod(0o644)
    app = open_app(config)
    ingest(app, report())
    server = ApiServer(app)
    server.start()
    try:
        yield Service(config, app, server, latest_case(app).number, app.settings.data_path)
    finally:
        server.stop()
        app.close()
        shutil.rmtree(base, ignore_errors=True)


def run_as(user: str, config: Path, *args: str, env: dict[str, str] | None = None,
           probe: tuple[Path, ...] = ()) -> tuple[int, str, list[str]]:
    """Run `stopit ARGS` as `user` in a forked child; (exit code, output, probe paths it could read)."""
    account = pwd.getpwnam(user)
    groups = [g for g in os.getgrouplist(user, account.pw_gid)]
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: the child only runs the CLI
        pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        status = 0
        try:
            os.close(read)
            os.setgroups(groups)
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            readable = []
            for path in probe:
                try:
                    (os.listdir if path.is_dir() else Path.read_bytes)(path)  # type: ignore[operator]
                    readable.append(str(path))
                except PermissionError:
                    pass
            result = CliRunner(env={"COLUMNS": "200", **(env or {})}).invoke(main, ["-c", str(config), *args])
            os.write(write, json.dumps([result.exit_code, result.output, readable]).encode())
        except BaseException as exc:  # noqa: BLE001 (report anything to the parent)
            os.write(write, json.dumps([99, repr(exc), []]).encode())
            status = 1
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as stream:
        payload = stream.read()
    os.waitpid(pid, 0)
    code, output, readable = json.loads(payload)
    return code, output, readable


def root_cli(config: Path, *args: str) -> str:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["-c", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_each_user_is_who_the_kernel_says_and_every_action_is_audited_under_that_name(
        service: Service, users: Users) -> None:
    number = service.number
    # Warm up as root: the child cannot import modules from a root-only interpreter path.
    root_cli(service.config, "--as", "Alice", "cases", "note", number, "root acting for Alice", "--json")
    root_cli(service.config, "whoami")

    code, out, _ = run_as(users.alice, service.config, "whoami", "--json")
    assert code == 0, out
    assert {k: json.loads(out)[k] for k in ("staff", "unix_user", "service_account")} == \
        {"staff": "Alice", "unix_user": users.alice, "service_account": False}

    # Neither a flag nor the environment makes Alice into Bob.
    for args, env in (((["--as", "Bob"]), None), ([], {"STOPIT_STAFF": "Bob"})):
        code, out, _ = run_as(users.alice, service.config, *args, "cases", "note", number, "I am Bob", env=env)
        assert code == 1 and "--as is only for an admin acting as the service account" in out, out

    assert run_as(users.alice, service.config, "cases", "note", number, "Alice read it", "--json")[0] == 0
    assert run_as(users.bob, service.config, "cases", "note", number, "Bob read it")[0] == 0
    # Bob lacks the reveal role, and the service, not his command, decides.
    code, out, _ = run_as(users.bob, service.config, "reveal", number, "--reason", "I would like to know")
    assert code == 1 and "does not have the 'reveal' role" in out

    with service.app.factory() as session:
        notes = session.scalars(select(Event).where(Event.action == "note-added").order_by(Event.id)).all()
        assert [(e.actor, e.unix_user, e.detail["text"]) for e in notes] == [
            ("Alice", "root", "root acting for Alice"),
            ("Alice", users.alice, "Alice read it"),
            ("Bob", users.bob, "Bob read it")]
        assert not session.scalars(select(Event).where(Event.action == "identity-revealed")).all()


def test_staff_cannot_read_the_database_or_the_keys(service: Service, users: Users) -> None:
    root_cli(service.config, "whoami")
    secrets = (service.data, service.data / "stopit.db", service.data / "identity.key")
    assert all(path.exists() for path in secrets)
    code, out, readable = run_as(users.alice, service.config, "cases", "list", "--json", probe=secrets)
    assert code == 0, out
    assert readable == []
    assert [row["number"] for row in json.loads(out)] == [service.number]  # what the service lets her see
    # A command that opens the data folder itself is refused, with the reason.
    code, out, _ = run_as(users.alice, service.config, "key", "check")
    assert code == 1 and "only the service account may" in out


def test_an_account_outside_the_staff_group_cannot_connect_and_nobody_works_without_the_service(
        service: Service, users: Users) -> None:
    root_cli(service.config, "whoami")
    code, out, _ = run_as("nobody", service.config, "cases", "list")
    assert code == 1 and "may not connect to the stopit service" in out, out
    service.server.stop()
    code, out, _ = run_as(users.alice, service.config, "cases", "list")
    assert code == 1 and "the stopit service is not running" in out, out


def test_two_person_reveal_between_two_real_accounts(service: Service, users: Users) -> None:
    number = service.number
    root_cli(service.config, "--as", "Alice", "reveal", "requests", "--json")
    code, out, _ = run_as(users.alice, service.config, "reveal", number, "--reason", "police asked in writing",
                          "--json")
    assert code == 0, out
    request = json.loads(out)
    assert request["state"] == "requested"
    # Alice cannot approve her own request, and Bob cannot approve it as someone else.
    code, out, _ = run_as(users.alice, service.config, "reveal", "approve", str(request["request"]),
                          "--reason", "approving myself")
    assert code == 1, out
    code, out, _ = run_as(users.bob, service.config, "--as", "Alice", "reveal", "approve",
                          str(request["request"]), "--reason", "letter seen")
    assert code == 1 and "--as is only for" in out
    code, out, _ = run_as(users.bob, service.config, "reveal", "approve", str(request["request"]),
                          "--reason", "letter seen", "--json")
    assert code == 0 and json.loads(out)["decided_by"] == "Bob", out
    code, out, _ = run_as(users.alice, service.config, "reveal", number, "--reason", "police asked in writing",
                          "--json")
    assert code == 0 and json.loads(out)["state"] == "revealed", out
    with service.app.factory() as session:
        staff = session.scalars(select(Event).where(Event.automatic.is_(False), Event.action.like("reveal%"))
                                .order_by(Event.id)).all()
        seen = [(e.action, e.actor, e.unix_user) for e in staff]
        assert seen[:2] == [("reveal-requested", "Alice", users.alice), ("reveal-approved", "Bob", users.bob)]
        assert {(actor, unix) for _, actor, unix in seen} == {("Alice", users.alice), ("Bob", users.bob)}


def test_export_through_the_api_is_written_by_the_caller_audited_under_them_and_scoped(
        service: Service, users: Users, tmp_path: Path) -> None:
    number = service.number
    # Warm up as root (imports), then give each user a folder of their own to write in.
    root_cli(service.config, "--as", "Alice", "cases", "export", number, "-o", str(tmp_path / "warm.zip"))
    root_cli(service.config, "verify-export", str(tmp_path / "warm.zip"))
    folders = {}
    for user in (users.alice, users.bob):
        folders[user] = Path(tempfile.mkdtemp(prefix="stopit-out-"))
        os.chown(folders[user], pwd.getpwnam(user).pw_uid, -1)
        folders[user].chmod(0o755)  # others may read what Alice hands them
    try:
        package = folders[users.alice] / "case.zip"
        code, out, _ = run_as(users.alice, service.config, "cases", "export", number, "-o", str(package), "--json")
        assert code == 0, out
        assert package.stat().st_uid == pwd.getpwnam(users.alice).pw_uid  # written by Alice, not the service
        # Anyone holding the package can verify it: no configuration, no data folder, no service.
        for user in (users.bob, "nobody"):
            code, out, _ = run_as(user, Path("/nonexistent/stopit.toml"), "verify-export", str(package), "--json")
            assert code == 0 and json.loads(out)["problems"] == [] and json.loads(out)["exported_by"] == "Alice", out

        # Bob is moved to the west organisation while the service runs (Carol approves main's reveals
        # now): main's case is no longer his.
        text = service.config.read_text()
        service.config.write_text(text.replace('roles = ["staff", "approver"]\n',
                                               'roles = ["staff", "approver"]\norganisations = ["west"]\n')
                                  + '\n[[staff]]\nname = "Carol"\nroles = ["approver"]\n')
        theirs = folders[users.bob] / "theirs.zip"
        code, out, _ = run_as(users.bob, service.config, "cases", "export", number, "-o", str(theirs))
        assert code == 1 and "Bob does not work for organisation 'main'" in out, out
        assert not theirs.exists()
        # Bob leaves altogether: refused as no staff member; back again: he works as before.
        service.config.write_text(text.replace(f'unix_user = "{users.bob}"', ""))
        code, out, _ = run_as(users.bob, service.config, "cases", "list")
        assert code == 1 and "is not a staff member" in out, out
        service.config.write_text(text)
        assert run_as(users.bob, service.config, "cases", "list")[0] == 0
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
    with service.app.factory() as session:
        exports = session.scalars(select(Event).where(Event.action == "case-exported").order_by(Event.id)).all()
    assert [(e.actor, e.unix_user) for e in exports] == [("Alice", "root"), ("Alice", users.alice)]


def test_every_staff_command_says_plainly_that_the_service_is_not_running(service: Service, users: Users) -> None:
    from test_api import staff_commands

    # Somewhere Alice could write, so that only the missing service stops the export.
    commands = staff_commands(service.number, Path(tempfile.gettempdir()) / f"stopit-{uuid.uuid4().hex}.zip")
    for args in commands.values():  # warm up as root: each command's modules imported
        CliRunner(env={"COLUMNS": "200"}).invoke(main, ["-c", str(service.config), *args, "--help"])
    root_cli(service.config, "whoami")
    service.server.stop()
    for path, args in commands.items():
        code, out, _ = run_as(users.alice, service.config, *args)
        assert code == 1 and "the stopit service is not running" in out, (path, out)
