"""The worker child of `stopit serve` runs at a lower CPU priority than the listener.

Under a flood the listener (which stores each message before its 250) and the worker share
the CPU; `server.worker_nice` lets accepting mail win it (bench/flood.py measures the effect).
"""

from __future__ import annotations

import os
import smtplib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stopit_mail.app import App
from stopit_mail.config import settings_from_dict
from stopit_mail.errors import ConfigError
from stopit_mail.models import RawMessage, RawStatus

from smtp_helpers import (
    free_port,
    make_config,
    open_fresh,
    report_message,
    start_server_process,
    stop_process,
    wait_for_port,
    wait_until,
)

ORG = {"slug": "main", "name": "Example", "mailboxes": ["stopit@example.edu"]}


def niceness(pid: int, tid: int | None = None) -> int:
    """Field 19 of /proc/PID[/task/TID]/stat (after the parenthesised command name)."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    return int(Path(path).read_text().rsplit(")", 1)[1].split()[16])


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(n) for n in (task / "children").read_text().split()]
    return found


def processed(app: App) -> int:
    with app.factory() as session:
        return session.scalar(select(func.count()).select_from(RawMessage)
                              .where(RawMessage.status == RawStatus.PROCESSED)) or 0


@pytest.mark.parametrize("nice", [7, 0])
def test_the_worker_child_of_serve_runs_at_the_configured_niceness(tmp_path: Path, nice: int) -> None:
    port = free_port()
    config = make_config(tmp_path, server={"listen": f'"127.0.0.1:{port}"', "worker_nice": str(nice)})
    server = start_server_process(config, tmp_path / "serve.log")
    try:
        wait_for_port(port, 60, server)
        assert wait_until(lambda: len(children(server.pid)) == 1, 30)
        (worker,) = children(server.pid)
        # Linux keeps a niceness per thread: every thread of the worker (processing, wake-ups,
        # the model's) must have it, and the listener must keep its own.
        # Once it has processed a report, every thread it uses is there.
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("r1@example.org", ["stopit@example.edu"], report_message(1))
        app = open_fresh(config)
        try:
            assert wait_until(lambda: processed(app) == 1, 60)
        finally:
            app.close()
        base = os.nice(0)
        threads = [int(t) for t in os.listdir(f"/proc/{worker}/task")]
        assert {niceness(worker, t) for t in threads} == {min(base + nice, 19)}
        assert niceness(server.pid) == base
    finally:
        assert stop_process(server) == 0, (tmp_path / "serve.log").read_text()


@pytest.mark.parametrize("key", ["worker_nice", "flood_nice"])
@pytest.mark.parametrize("value", [-1, 20, 100])
def test_a_worker_niceness_out_of_range_is_refused(key: str, value: int) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"organisations": [ORG], "server": {key: value}}, Path("."))
    assert info.value.problems == [f"server.{key}: found {value}, expected 0 to 19"]


def test_a_worker_niceness_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"organisations": [ORG], "server": {"worker_nice": "low"}}, Path("."))
    assert any(p.startswith("server.worker_nice") for p in info.value.problems), info.value.problems
