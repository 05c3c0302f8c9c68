"""The worker loop, `stopit serve`/`worker`/`status`, and orderly shutdown on signals."""

from __future__ import annotations

import json
import signal
import smtplib
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from stopit_mail.app import App
from stopit_mail.cli import main
from stopit_mail.ingest.rawstore import Envelope, store_raw
from stopit_mail.models import OutboxMessage, OutboxStatus, RawMessage, RawStatus, Report
from stopit_mail.processing import write as write_step
from stopit_mail.processing.worker import MAX_FAILURES, Worker

from smtp_helpers import (
    free_port,
    make_config,
    open_fresh,
    report_message,
    running_server,
    start_server_process,
    stop_process,
    wait_for_port,
    wait_until,
)


def store_reports(app: App, count: int, start: int = 0) -> list[int]:
    envelope = Envelope(source="smtp", mail_from="x@example.org", rcpt_to=["stopit@example.edu"])
    return [store_raw(app.factory, report_message(n), envelope).raw_id for n in range(start, start + count)]


def counts(app: App) -> tuple[dict[str, int], int, int]:
    with app.factory() as session:
        raw = {s.value: c for s, c in session.execute(
            select(RawMessage.status, func.count()).group_by(RawMessage.status))}
        reports = session.scalar(select(func.count()).select_from(Report)) or 0
        outbox = session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    return raw, reports, outbox


def maildir_files(app: App) -> list[Path]:
    return sorted((app.settings.data_path / "outbox" / "new").glob("*"))


def test_a_turn_processes_what_waits_and_delivers_the_acknowledgements(app: App) -> None:
    store_reports(app, 3)
    report = Worker(app).run_once()
    assert (report.processed, report.quarantined, report.delivered) == (3, 0, {"sent": 3})
    assert counts(app) == ({"processed": 3}, 3, 3)
    assert len(maildir_files(app)) == 3
    # Nothing left: the next turn is idle.
    assert not Worker(app).run_once().busy


def test_a_restarted_worker_resumes_what_was_left(app: App) -> None:
    store_reports(app, 5)
    first = Worker(app, batch=2)
    first.run_once()  # "crashes" after two messages
    assert counts(app)[0] == {"processed": 2, "received": 3}
    second = Worker(app)
    second.run_once()
    assert counts(app) == ({"processed": 5}, 5, 5)
    assert len(maildir_files(app)) == 5


def test_the_listener_wakes_the_worker(app: App) -> None:
    with running_server(app, run_worker=True, worker_idle_seconds=30) as server:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            client.sendmail("reporter1@example.org", ["stopit@example.edu"], report_message(1))
        # The idle timeout is 30 s: only the wake-up can make this quick.
        assert wait_until(lambda: counts(app)[0] == {"processed": 1}, 5)
        assert wait_until(lambda: len(maildir_files(app)) == 1, 5)


def test_a_message_that_keeps_failing_in_the_database_is_quarantined(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad, good = store_reports(app, 2)
    real_write = write_step.write_one

    def failing_write(session, ctx, **options):  # type: ignore[no-untyped-def]
        if ctx.raw.id == bad:
            raise IntegrityError("INSERT ...", {}, Exception("constraint failed"))
        return real_write(session, ctx, **options)

    monkeypatch.setattr(write_step, "write_one", failing_write)
    worker = Worker(app)
    for _ in range(MAX_FAILURES):
        worker.run_once()
    worker.run_once()
    with app.factory() as session:
        rows = {r.id: r for r in session.scalars(select(RawMessage))}
    assert rows[bad].status is RawStatus.QUARANTINED
    assert (rows[bad].reason or "").startswith("worker: IntegrityError")
    assert rows[good].status is RawStatus.PROCESSED


def test_several_workers_share_the_queue_without_double_processing(any_app: App) -> None:
    if any_app.engine.dialect.name != "postgresql":
        pytest.skip("several workers need PostgreSQL (SQLite has one writer)")
    # All 40 reporters share one domain: lift the per-domain acknowledgement limit (20 an hour).
    any_app.settings.outbound.acks_per_domain_per_hour = 100
    store_reports(any_app, 40)
    workers = [Worker(any_app, batch=1) for _ in range(4)]

    def drain(worker: Worker) -> None:
        while worker.run_once().busy:
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(w.totals.processed for w in workers) == 40
    # SKIP LOCKED claims spread the work instead of everyone queueing on the first id.
    assert sum(1 for w in workers if w.totals.processed) >= 2
    raw, reports, outbox = counts(any_app)
    assert (raw, reports, outbox) == ({"processed": 40}, 40, 40)
    with any_app.factory() as session:
        sent = session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.status == OutboxStatus.SENT))
    assert sent == 40


def test_status_shows_queues_age_and_errors(app: App) -> None:
    store_reports(app, 2)
    with app.factory() as session, session.begin():
        first = session.scalars(select(RawMessage).order_by(RawMessage.id)).first()
        assert first is not None
        first.status, first.reason = RawStatus.QUARANTINED, "parse-message: boom"
        session.add(OutboxMessage(kind="acknowledgement", dedup_key="k", recipients=["a@example.org"],
                                  message_id="<m@example.edu>", content=b"x", last_error="421 try later"))
    config = str(app.settings.base_dir / "stopit.toml")
    result = CliRunner().invoke(main, ["-c", config, "status", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["raw_messages"] == {"received": 1, "processed": 0, "quarantined": 1}
    assert status["outbox"] == {"queued": 1, "sent": 0, "failed": 0}
    assert status["oldest_waiting_seconds"] is not None and status["oldest_waiting_seconds"] >= 0
    assert status["recent_quarantine"][0]["reason"] == "parse-message: boom"
    assert status["recent_outbox_errors"][0]["error"] == "421 try later"
    table = CliRunner().invoke(main, ["-c", config, "status"])
    assert table.exit_code == 0
    assert "quarantined" in table.output and "parse-message: boom" in table.output
    assert "421 try later" in table.output


def test_worker_command_once_drains_the_queue(app: App) -> None:
    store_reports(app, 2)
    config = str(app.settings.base_dir / "stopit.toml")
    result = CliRunner().invoke(main, ["-c", config, "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert counts(app) == ({"processed": 2}, 2, 2)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.serial  # timed: another test on the other core would skew it
def test_serve_stops_cleanly_on_signals(tmp_path: Path, signum: signal.Signals) -> None:
    port = free_port()
    config = make_config(tmp_path, server={"listen": f'"127.0.0.1:{port}"'})
    proc = start_server_process(config, tmp_path / "serve.log")
    try:
        wait_for_port(port, proc=proc)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("reporter1@example.org", ["stopit@example.edu"], report_message(1))
        fresh = open_fresh(config)
        try:
            assert wait_until(lambda: counts(fresh)[0] == {"processed": 1}, 10)
        finally:
            fresh.close()
        proc.send_signal(signum)
        assert proc.wait(20) == 0
    finally:
        stop_process(proc)
    log = (tmp_path / "serve.log").read_text()
    assert "listening on 127.0.0.1" in log


def test_serve_explains_a_busy_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = make_config(tmp_path, server={"listen": f'"127.0.0.1:{port}"'})
        result = CliRunner().invoke(main, ["-c", str(config), "serve"])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_two_processors_on_one_sqlite_database_never_both_process(tmp_path: Path) -> None:
    """A server and a `stopit ingest` share SQLite: the write lock is taken before the status read.

    Replies are the case to test: unlike reports they have no unique key that would catch a
    second processing, so only the claim keeps a reply from entering the timeline twice.
    """
    from stopit_mail.app import open_app
    from stopit_mail.models import Case, Event
    from stopit_mail.processing.runner import process_message

    config = make_config(tmp_path)
    apps = [open_app(config), open_app(config, migrate=False)]
    first = store_raw(apps[0].factory, report_message(0), Envelope("smtp", rcpt_to=["stopit@example.edu"])).raw_id
    process_message(apps[0].factory, apps[0].settings, first)
    with apps[0].factory() as session:
        alias = f"stopit+{session.scalars(select(Case.reporter_code)).one()}@example.edu"
    replies = [store_raw(apps[0].factory, (f"From: reporter0@example.org\r\nTo: {alias}\r\nSubject: more {n}\r\n\r\n"
                                          f"It happened again ({n}).\r\n").encode(),
                         Envelope("smtp", rcpt_to=[alias])).raw_id for n in range(30)]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def run(app: App) -> None:
        barrier.wait()
        for raw_id in replies:
            outcomes.append(process_message(app.factory, app.settings, raw_id).status)

    threads = [threading.Thread(target=run, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with apps[0].factory() as session:
        assert session.scalar(select(func.count(Event.id)).where(Event.action == "reply-received")) == 30
    assert sorted(outcomes) == ["processed"] * 30 + ["skipped"] * 30
    for app in apps:
        app.close()
