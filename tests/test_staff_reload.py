"""Staff changes take effect in the running service without a restart (issue 11).

Adding a [[staff]] entry lets that person in at once; removing one shuts them out at once; a
broken edit is refused with its mistake named in the log, and the previous list stays in force
(never a service that locks everyone out or stops answering). SIGHUP rereads the file at once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from test_api import Served, serving, short_installation

from stopit_mail.api import socket_path
from stopit_mail.api.client import over_socket, request, result_of
from stopit_mail.config import load_settings
from stopit_mail.models import Event

from factories import cli
from smtp_helpers import free_port, make_config, start_server_process, stop_process, wait_for_port, wait_until

NEWT = '\n[[staff]]\nname = "Newt"\nroles = ["staff"]\n'
BROKEN = '\n[[staff]]\nname = "Xena"\nroles = ["staff", "wizard"]\n'


@pytest.fixture
def served() -> Iterator[Served]:
    with serving() as running:
        yield running


def test_added_staff_count_at_once_removed_ones_are_refused_and_a_broken_edit_keeps_the_old_list(
        served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stopit_mail.api.reload")
    config, number = served.config, served.number
    assert "'Newt' is not a configured staff member" in cli(config, "--as", "Newt", "cases", "list", ok=False)

    original = config.read_text()
    config.write_text(original + NEWT)
    cli(config, "--as", "Newt", "cases", "note", number, "Newt joined today", "--json")
    with served.app.factory() as session:
        [note] = session.scalars(select(Event).where(Event.action == "note-added")).all()
        assert note.actor == "Newt"
    assert "added: Newt" in caplog.text

    # Ada leaves: refused from the next request on, with no restart.
    without_ada = original.replace('name = "Ada"\nroles = ["staff", "reveal"]\n', 'name = "Ava"\nroles = ["staff"]\n')
    assert without_ada != original
    config.write_text(without_ada + NEWT)
    assert "'Ada' is not a configured staff member" in cli(config, "--as", "Ada", "cases", "list", ok=False)

    # A broken edit (an unknown role) is refused as a whole: Xena is not let in, Newt still works,
    # Ada stays out, and the log names the mistake.
    # (A command reads only the socket's path from the file, so it still reaches the service,
    # which answers on its old list.)
    caplog.clear()
    settings = load_settings(config)
    config.write_text(without_ada + NEWT + BROKEN)
    assert number in cli(config, "--as", "Newt", "cases", "list")
    assert "'Xena' is not a configured staff member" in cli(config, "--as", "Xena", "cases", "list", ok=False)
    xena = over_socket(socket_path(settings), request("cases.list", {}, "Xena"))
    assert xena["error"]["code"] == "forbidden" and "'Xena' is not a configured staff member" in xena["error"]["message"]
    assert result_of(over_socket(socket_path(settings), request("cases.list", {}, "Newt")))["cases"][0]["number"] == number
    assert over_socket(socket_path(settings), request("cases.list", {}, "Ada"))["error"]["code"] == "forbidden"
    assert "staff list NOT reloaded" in caplog.text
    assert "staff[3].roles: found 'wizard', expected one of" in caplog.text
    assert "keeps the previous 3 staff member(s)" in caplog.text

    # Fixed: taken.
    config.write_text(without_ada + NEWT + BROKEN.replace(', "wizard"', ""))
    cli(config, "--as", "Xena", "cases", "list")
    assert served.server.reloader.reloads == 3


def test_sighup_rereads_the_staff_list_of_a_running_service_and_never_stops_it(tmp_path: Path) -> None:
    base, config = short_installation()
    cli(config, "whoami")  # the schema is current before the service opens it
    log = tmp_path / "service.log"
    with log.open("wb") as sink:
        service = subprocess.Popen([sys.executable, "-m", "stopit_mail", "-c", str(config), "api", "serve"],
                                   stdout=sink, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: "staff API listening" in log.read_text(), 30)
        assert "'Newt' is not a configured staff member" in cli(config, "--as", "Newt", "whoami", ok=False)

        config.write_text(config.read_text() + NEWT)
        service.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "staff list reloaded (SIGHUP" in log.read_text(), 30)
        assert json.loads(cli(config, "--as", "Newt", "whoami", "--json"))["staff"] == "Newt"

        settings = load_settings(config)
        config.write_text(config.read_text() + BROKEN)
        service.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "NOT reloaded (SIGHUP" in log.read_text(), 30)
        assert "staff[3].roles: found 'wizard'" in log.read_text()
        assert service.poll() is None  # SIGHUP used to end the process
        assert result_of(over_socket(socket_path(settings), request("whoami", {}, "Newt")))["staff"] == "Newt"
        assert over_socket(socket_path(settings), request("whoami", {}, "Xena"))["error"]["code"] == "forbidden"
    finally:
        os.kill(service.pid, signal.SIGTERM)
        service.wait(30)
        shutil.rmtree(base, ignore_errors=True)
    assert service.returncode == 0


def test_sighup_never_ends_the_mailbox_even_without_the_staff_api(tmp_path: Path) -> None:
    port = free_port()
    config = make_config(tmp_path, api={"enabled": "false"}, server={"listen": f'"127.0.0.1:{port}"'})
    service = start_server_process(config, tmp_path / "serve.log", "--no-worker")
    try:
        wait_for_port(port, proc=service)
        service.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert service.poll() is None, (tmp_path / "serve.log").read_text()
        wait_for_port(port, proc=service)
    finally:
        assert stop_process(service) == 0


def test_stop_signals_are_caught_before_anything_listens() -> None:
    """serve installs its handlers before the listener opens its port: a SIGHUP (or SIGTERM) that
    arrives while the web door or API are still starting must not kill the process (CI once saw
    SIGHUP end a service whose port was already open, because SIG_IGN came after start-up)."""
    from stopit_mail.server import StopSignals

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    signals = StopSignals()
    try:
        os.kill(os.getpid(), signal.SIGHUP)  # with the default action this would end pytest
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.wait(lambda: True) == "SIGTERM"
    finally:
        signals.restore()
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_serve_survives_a_reload_and_stops_cleanly_on_a_signal_sent_while_it_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real `serve`, in this process: SIGHUP and SIGTERM arrive the moment the listener has
    started, before the API exists. serve must neither die nor hang; it stops cleanly, and leaves
    this process's handlers as they were."""
    from stopit_mail.app import open_app
    from stopit_mail.server import MailServer, serve

    port = free_port()
    config = make_config(tmp_path, api={"enabled": "false"}, server={"listen": f'"127.0.0.1:{port}"'})
    started = MailServer.start

    def start_then_signalled(self: MailServer) -> None:
        started(self)
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(MailServer, "start", start_then_signalled)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    app = open_app(config)
    try:
        assert serve(app, run_worker=False) == 0
    finally:
        app.close()
    assert {sig: signal.getsignal(sig) for sig in before} == before
