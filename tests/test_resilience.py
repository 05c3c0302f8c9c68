"""Emergencies first, poison messages set aside, crashes counted, a stopped worker noticed."""

from __future__ import annotations

import base64
import json
import os
import smtplib
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from stopit_mail.app import App, init_installation, open_app
from stopit_mail.cli import main
from stopit_mail.ingest.rawstore import Envelope, store_raw
from stopit_mail.ingest.service import IngestSummary, ingest_one
from stopit_mail.models import Case, Event, OutboxMessage, Page, RawMessage, RawStatus
from stopit_mail.outbound.outbox import due_ids
from stopit_mail.processing import runner
from stopit_mail.processing.handlers.acknowledge import Acknowledge
from stopit_mail.processing.watchdog import ALERT, alert_if_unhealthy
from stopit_mail.processing.worker import Worker

from smtp_helpers import report_message, running_server, wait_until

SELF_HARM = (b"From: Sam <sam@example.org>\r\nTo: stopit@example.edu\r\nSubject: please read\r\n"
             b"Message-ID: <sh-1@example.org>\r\n\r\n"
             b"I can't go on. I am going to kill myself tonight.\r\n")


def ingest(app: App, content: bytes) -> IngestSummary:
    summary = IngestSummary()
    ingest_one(app, content, Envelope("smtp", "x@example.org", ["stopit@example.edu"]), summary)
    return summary


CHAIN = ('\n[[organisations.escalation.business_chain]]\ncontact = "primary"\n'
         'addresses = ["oncall1@example.edu", "5551110001@sms.example.net"]\nwait_minutes = 5\n')


@pytest.fixture
def chain_app(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An installation whose organisation pages one contact at any hour."""
    config = init_installation(tmp_path, "Example University", "stopit@example.edu")
    text = config.read_text().replace('dns = "online"', 'dns = "offline"')
    config.write_text(text.replace("\n[limits]", CHAIN + "\n[limits]", 1))
    app = open_app(config)
    yield app
    app.close()


def store(app: App, content: bytes) -> int:
    envelope = Envelope("smtp", "x@example.org", ["stopit@example.edu"])
    from stopit_mail.cases.pretriage import prioritiser
    casework = app.settings.casework
    return store_raw(app.factory, content, envelope,
                     prioritise=prioritiser(casework.triage_rules, casework.disabled_triage_rules)).raw_id


def test_an_emergency_stored_behind_a_backlog_is_claimed_first_and_its_page_delivered_first(chain_app: App) -> None:
    backlog = [store(chain_app, report_message(n)) for n in range(5)]
    emergency = store(chain_app, SELF_HARM)
    with chain_app.factory() as session:
        priorities = {i: p for i, p in session.execute(select(RawMessage.id, RawMessage.priority))}
    assert priorities[emergency] > max(priorities[i] for i in backlog)
    outcome = runner.process_next(chain_app.factory, chain_app.settings)
    assert outcome is not None and outcome.raw_id == emergency and outcome.status == "processed"
    # The backlog follows in age order.
    taken = [o.raw_id for o in (runner.process_next(chain_app.factory, chain_app.settings) for _ in range(5)) if o]
    assert taken == backlog
    with chain_app.factory() as session:
        first = due_ids(session, datetime.now(UTC) + timedelta(seconds=1))
        kinds = [session.get(OutboxMessage, i).kind for i in first]  # type: ignore[union-attr]
        case = session.scalars(select(Case).where(Case.urgency == "emergency")).one()
        ack = session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id,
                                                          OutboxMessage.kind == "acknowledgement")).one()
    # The pages (mail and SMS gateway) and the emergency's acknowledgement go out before the
    # five ordinary ones.
    pages = kinds.count("page")
    assert pages >= 1 and kinds[:pages] == ["page"] * pages
    assert kinds[pages] == "acknowledgement" and first[pages] == ack.id
    assert kinds[pages + 1:] == ["acknowledgement"] * 5


# Vietnamese, Korean and French: a friend has taken pills, said goodbye, given things away.
# The shipped emergency rules read English and Spanish only, so none of these matches a rule.
UNREAD_REPORTS = [
    "Bạn tôi vừa nói lời tạm biệt với mọi người và đã uống rất nhiều thuốc ngủ tối nay.",
    "제 친구가 모두에게 작별 인사를 하고 오늘 밤에 약을 많이 먹었다고 했어요.",
    "Mon amie a donné toutes ses affaires et elle a écrit une lettre d'adieu hier soir.",
]


def unread_report(n: int, text: str) -> bytes:
    return (f"From: Friend <friend{n}@example.org>\r\nTo: stopit@example.edu\r\nSubject: help\r\n"
            f"Message-ID: <unread-{n}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n").encode()


def test_a_report_the_rules_cannot_read_is_claimed_before_the_backlog_after_emergencies(chain_app: App) -> None:
    backlog = [store(chain_app, report_message(n)) for n in range(3)]
    unread = [store(chain_app, unread_report(n, text)) for n, text in enumerate(UNREAD_REPORTS)]
    emergency = store(chain_app, SELF_HARM)
    with chain_app.factory() as session:
        priorities = {i: p for i, p in session.execute(select(RawMessage.id, RawMessage.priority))}
    assert priorities[emergency] > priorities[unread[0]] > max(priorities[i] for i in backlog)
    assert len({priorities[i] for i in unread}) == 1
    taken = [o.raw_id for o in (runner.process_next(chain_app.factory, chain_app.settings) for _ in range(7)) if o]
    # The emergency first, then what only the model can read (in age order), then the backlog.
    assert taken == [emergency, *unread, *backlog]


def folded_bomb(lines: int) -> bytes:
    return (b"From: a@example.org\r\nTo: stopit@example.edu\r\nSubject: x\r\nX-Bomb: start\r\n"
            + b" x\r\n" * lines + b"\r\nbody\r\n")


def status_counts(app: App) -> dict[RawStatus, int]:
    """How many stored messages are in each status."""
    with app.factory() as session:
        return {status: n for status, n in session.execute(
            select(RawMessage.status, func.count()).group_by(RawMessage.status))}


def test_a_poison_message_is_quarantined_while_others_are_accepted_and_processed(app: App) -> None:
    app.settings.limits.max_message_bytes = 8 * 1024 * 1024
    bomb = folded_bomb(1_000_000)
    oversize = b"From: a@example.org\r\nSubject: big\r\n\r\n" + b"y" * (8 * 1024 * 1024 + 10)
    with running_server(app, run_worker=True, worker_idle_seconds=0.2) as server:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
            client.sendmail("a@example.org", ["stopit@example.edu"], bomb)
            for n in range(5):
                client.sendmail(f"r{n}@example.org", ["stopit@example.edu"], report_message(n))
        # Oversize over SMTP gets 552; a file import stores it (then whoever claims it first,
        # the import or the server's worker, quarantines it).
        assert ingest(app, oversize).stored == 1
        assert wait_until(lambda: status_counts(app) == {RawStatus.PROCESSED: 5, RawStatus.QUARANTINED: 2}, 30)
    with app.factory() as session:
        reasons = sorted(session.scalars(select(RawMessage.reason).where(
            RawMessage.status == RawStatus.QUARANTINED)))
    assert reasons[0].startswith("header section is longer than limits.max_header_bytes")
    assert reasons[1].startswith("message is 8388655 bytes, above limits.max_message_bytes")


def test_a_pre_triaged_emergency_that_cannot_be_processed_still_pages(chain_app: App) -> None:
    # What is known comes before the bomb: the subject says it.
    poison = (b"From: Sam <sam@example.org>\r\nTo: stopit@example.edu\r\n"
              b"Subject: I am going to kill myself tonight\r\nX-Bomb: a\r\n" + b" x\r\n" * 300_000 + b"\r\nbye\r\n")
    raw_id = store(chain_app, poison)
    outcome = runner.process_message(chain_app.factory, chain_app.settings, raw_id)
    assert outcome.status == "quarantined"
    with chain_app.factory() as session:
        raw = session.get(RawMessage, raw_id)
        assert raw is not None and raw.case_id is not None
        case = session.get(Case, raw.case_id)
        assert case is not None and case.urgency == "emergency" and case.title.startswith("UNPROCESSED EMERGENCY")
        assert session.scalar(select(func.count(Page.id))) == 1
        alert = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "emergency-fallback")).one()
        assert alert.recipients == ["stopit@example.edu"] and b"kill myself tonight" in alert.content


CRASHING_WORKER = textwrap.dedent("""
    import os, sys
    from stopit_mail.app import open_app
    from stopit_mail.processing import runner
    app = open_app(sys.argv[1], migrate=False)
    def crash(*args, **kwargs):
        os._exit(9)  # killed mid-processing: after the claim, before the write
    runner.write = crash
    runner.process_next(app.factory, app.settings)
""")


def test_a_crash_during_processing_counts_as_an_attempt(app: App) -> None:
    app.settings.limits.max_attempts = 2
    raw_id = store(app, report_message(1))
    config = str(app.settings.base_dir / "stopit.toml")
    for expected in (1, 2):
        done = subprocess.run([sys.executable, "-c", CRASHING_WORKER, config], timeout=120, check=False)
        assert done.returncode == 9
        with app.factory() as session:
            raw = session.get(RawMessage, raw_id)
            assert raw is not None and (raw.status, raw.attempts) == (RawStatus.RECEIVED, expected)
        # A restarted worker frees the dead one's lease.
        session_update(app, raw_id)
    outcome = runner.process_next(app.factory, app.settings)
    assert outcome is not None and outcome.status == "quarantined"
    assert outcome.reason is not None and outcome.reason.startswith("gave up after 2 attempts")


def session_update(app: App, raw_id: int) -> None:
    with app.factory() as session, session.begin():
        session.execute(update(RawMessage).where(RawMessage.id == raw_id).values(claimed_until=None))


def test_the_watchdog_reports_a_stopped_worker_once_per_episode(chain_app: App) -> None:
    store(chain_app, report_message(1))
    config = str(chain_app.settings.base_dir / "stopit.toml")
    fresh = CliRunner().invoke(main, ["-c", config, "status", "--json"])
    assert fresh.exit_code == 0, fresh.output  # waiting a moment is normal
    later = datetime.now(UTC) + timedelta(minutes=10)
    with chain_app.factory() as session, session.begin():
        session.execute(update(RawMessage).values(received_at=datetime.now(UTC) - timedelta(minutes=10)))
    result = CliRunner().invoke(main, ["-c", config, "status", "--json"])
    assert result.exit_code == 2
    report = json.loads(result.output)
    assert report["worker"]["ok"] is False
    assert report["worker"]["problems"][0].startswith("no worker is running (no heartbeat ever)")
    for _ in range(3):
        health = alert_if_unhealthy(chain_app.factory, chain_app.settings, None, now=later)
        assert not health.ok
    with chain_app.factory() as session:
        alerts = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == ALERT)).all()
    assert len(alerts) == 1
    assert alerts[0].recipients == ["stopit@example.edu", "oncall1@example.edu", "5551110001@sms.example.net"]
    # A worker catches up: the episode ends, the next outage alerts again.
    Worker(chain_app).run_once()
    assert CliRunner().invoke(main, ["-c", config, "status"]).exit_code == 0
    assert alert_if_unhealthy(chain_app.factory, chain_app.settings, None).ok
    with chain_app.factory() as session:
        assert session.scalars(select(Event.action).where(Event.action.in_(["watchdog-alert", "watchdog-recovered"]))
                               .order_by(Event.id)).all() == ["watchdog-alert", "watchdog-recovered"]


def test_a_failing_side_step_does_not_take_the_report_down(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Acknowledge, ctx: object) -> None:
        raise RuntimeError("template exploded")

    monkeypatch.setattr(Acknowledge, "process", broken)
    summary = ingest(app, report_message(1))
    assert (summary.processed, summary.quarantined, len(summary.cases)) == (1, 0, 1)
    with app.factory() as session:
        event = session.scalars(select(Event).where(Event.action == "side-step-failed")).one()
        assert event.case_id is not None and event.detail["step"] == "acknowledge"
        assert "template exploded" in event.detail["error"]
        assert session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_a_message_over_its_time_budget_is_abandoned_and_the_rest_flows(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from stopit_mail.processing.handlers.extract_evidence import ExtractEvidence
    from stopit_mail.processing.rules import warm_up

    app.settings.limits.processing_seconds = 1
    app.settings.limits.max_attempts = 1
    slow = store(app, report_message(0))
    others = [store(app, report_message(n)) for n in range(1, 4)]
    real_prepare = ExtractEvidence.prepare

    def stuck(self: ExtractEvidence, ctx) -> None:  # type: ignore[no-untyped-def]
        if ctx.raw.id == slow:
            time.sleep(4)  # a pathological message the limits did not catch
        real_prepare(self, ctx)

    monkeypatch.setattr(ExtractEvidence, "prepare", stuck)
    warm_up(app.settings)  # what Worker.run does first
    worker = Worker(app)
    report = worker.run_once()
    assert report.abandoned == 1
    while worker.run_once().busy:
        pass
    with app.factory() as session:
        rows = {r.id: r for r in session.scalars(select(RawMessage))}
    assert rows[slow].status is RawStatus.QUARANTINED
    assert (rows[slow].reason or "").startswith("time budget: processing took longer than 1 s")
    assert all(rows[i].status is RawStatus.PROCESSED for i in others)
    time.sleep(4)  # the abandoned attempt finishes; its late write is refused
    with app.factory() as session:
        assert session.get(RawMessage, slow).status is RawStatus.QUARANTINED  # type: ignore[union-attr]


def test_a_memory_error_outside_the_handlers_ends_serves_worker_child_so_a_fresh_one_continues(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In CI a child under the memory cap kept failing with MemoryError once a message had
    exhausted it (even writing the quarantine failed), and retried forever. serve's child now
    stops its worker (serve starts a fresh process); a worker in the listener's process retries."""
    from stopit_mail.server import separate_worker

    stored = store(app, report_message(0))
    failing = {"left": 1}

    def out_of_memory(*_args: object, **_kwargs: object) -> list[object]:
        if failing["left"]:
            failing["left"] -= 1
            raise MemoryError
        return real(*_args, **_kwargs)  # type: ignore[arg-type]

    real = runner.process_batch
    monkeypatch.setattr("stopit_mail.processing.worker.process_batch", out_of_memory)
    child = separate_worker(app, supervised=True)
    assert child.run_once().errors == 1 and child.stopping
    failing["left"] = 1
    in_process = Worker(app)
    assert in_process.run_once().errors == 1 and not in_process.stopping
    while in_process.run_once().busy:
        pass
    with app.factory() as session:
        assert session.get(RawMessage, stored).status is RawStatus.PROCESSED  # type: ignore[union-attr]


def memory_hog(megabytes: int, subject: bytes = b"see attached") -> bytes:
    """A report under the size limit whose attachment takes many times its size to process."""
    blob = base64.encodebytes(os.urandom(megabytes * 1024 * 1024 * 3 // 4)).replace(b"\n", b"\r\n")
    return (b"From: Big <big@example.org>\r\nTo: stopit@example.edu\r\nSubject: " + subject + b"\r\n"
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
            b"--B\r\nContent-Type: text/plain\r\n\r\nthe screenshots are attached\r\n"
            b"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + blob + b"\r\n--B--\r\n")


@pytest.mark.serial  # a gigabyte-capped child restarting under a bounded wait: load-sensitive
def test_a_restarted_worker_child_leaves_no_pipe_open(tmp_path: Path) -> None:
    """The supervisor closes a dead child's input before starting the next: CI saw the old pipe
    collected later as an unclosed file (one descriptor leaked per restart)."""
    from stopit_mail.worker_process import WorkerProcess

    class DyingChild(WorkerProcess):
        def _spawn(self) -> None:  # a child that dies at once, so the supervisor must restart it
            with self._lock:
                self._proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], stdin=subprocess.PIPE)

    supervisor = DyingChild(tmp_path / "stopit.toml")
    supervisor.start()
    first = supervisor._proc
    try:
        assert first is not None and first.stdin is not None
        assert wait_until(lambda: supervisor.restarts >= 1 and supervisor._proc is not first, 15)
        assert first.stdin.closed
    finally:
        supervisor.stop()
    assert supervisor._proc is not None and supervisor._proc.stdin is not None and supervisor._proc.stdin.closed


def test_a_message_over_the_memory_budget_is_quarantined_while_the_rest_flows(tmp_path: Path) -> None:
    from stopit_mail.worker_process import WorkerProcess

    # The real supervised worker child, under a real address-space cap: about 450 MiB once started,
    # while the 90 MiB report needs well over a gigabyte. It is an emergency, so it pages anyway.
    config = init_installation(tmp_path, "Example University", "stopit@example.edu")
    text = config.read_text().replace('dns = "online"', 'dns = "offline"')
    config.write_text(text.replace("worker_memory_mb = 4096", "worker_memory_mb = 1024")
                      .replace("max_attempts = 3", "max_attempts = 2", 1).replace("\n[limits]", CHAIN + "\n[limits]", 1))
    app = open_app(config)
    try:
        hog = store(app, memory_hog(90, subject=b"I am going to kill myself tonight"))
        with running_server(app, run_worker=True, worker_process=WorkerProcess(config)) as server:
            with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
                for n in range(3):
                    client.sendmail(f"r{n}@example.org", ["stopit@example.edu"], report_message(n))
            assert wait_until(lambda: status_counts(app) == {RawStatus.PROCESSED: 3, RawStatus.QUARANTINED: 1}, 180)
        with app.factory() as session:
            raw = session.get(RawMessage, hog)
            assert raw is not None and raw.status is RawStatus.QUARANTINED
            assert "memory" in (raw.reason or ""), raw.reason
            assert raw.attempts <= app.settings.limits.max_attempts + 1
            alert = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "emergency-fallback")).one()
            assert b"kill myself tonight" in alert.content
            assert session.scalar(select(func.count(Page.id))) == 1
    finally:
        app.close()
