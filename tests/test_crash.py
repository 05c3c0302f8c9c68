"""kill -9 in the middle of a burst loses no acknowledged message and duplicates nothing.

Eight clients send 2,000 distinct reports to a `stopit serve` subprocess (listener and worker)
and note which got 250. After 800 acknowledgements the server is SIGKILLed. Then:
every acknowledged message must be in the database (opened with a new engine, as after a
reboot); the server is restarted; the clients resend what was not acknowledged, exactly as
an MTA retries (same bytes, so a message stored just before the kill must not be stored
twice); and once the queue has drained every message is processed exactly once: one case,
one report, one acknowledgement row and exactly one acknowledgement file in the Maildir.
"""

from __future__ import annotations

import email
import hashlib
import os
import queue
import smtplib
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stopit_mail.models import Case, OutboxMessage, OutboxStatus, RawMessage, RawStatus, Report

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

TOTAL = int(os.environ.get("STOPIT_CRASH_MESSAGES", "2000"))
KILL_AFTER = 800
CLIENTS = 8


def send_all(port: int, messages: dict[int, bytes], numbers: list[int], acked: set[int],
             on_ack: threading.Event | None = None, retries: int = 0) -> None:
    """Send `numbers` from CLIENTS threads, each reusing a connection; record 250s in `acked`."""
    work: queue.SimpleQueue[int] = queue.SimpleQueue()
    for number in numbers:
        work.put(number)
    lock = threading.Lock()

    def client() -> None:
        connection: smtplib.SMTP | None = None
        while True:
            try:
                number = work.get_nowait()
            except queue.Empty:
                break
            for attempt in range(retries + 1):
                try:
                    if connection is None:
                        connection = smtplib.SMTP("127.0.0.1", port, timeout=30)
                    connection.sendmail(f"reporter{number}@example.org", ["stopit@example.edu"],
                                        messages[number])
                except (OSError, smtplib.SMTPException):
                    # The server died (or refused): this one is not acknowledged.
                    if connection is not None:
                        connection.close()
                    connection = None
                    if attempt < retries:
                        time.sleep(0.2)
                    continue
                with lock:
                    acked.add(number)
                    if on_ack is not None and len(acked) >= KILL_AFTER:
                        on_ack.set()
                break
        if connection is not None:
            try:
                connection.quit()
            except (OSError, smtplib.SMTPException):
                connection.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


@pytest.mark.serial  # load-sensitive: the burst and the drain have bounded waits
def test_sigkill_mid_burst_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    port = free_port()
    config = make_config(tmp_path, server={
        "listen": f'"127.0.0.1:{port}"', "max_connections_per_peer": "100",
        "max_messages_per_peer_per_minute": "1000000"})
    log = tmp_path / "serve.log"
    messages = {n: report_message(n) for n in range(TOTAL)}
    by_digest = {hashlib.sha256(m).hexdigest(): n for n, m in messages.items()}

    began = time.monotonic()
    # Phase 1: burst, and SIGKILL once 800 messages were acknowledged.
    acked_before_kill: set[int] = set()
    enough = threading.Event()
    server = start_server_process(config, log)
    try:
        wait_for_port(port, proc=server)
        def kill_when_enough() -> None:
            enough.wait(120)
            server.kill()

        killer = threading.Thread(target=kill_when_enough)
        killer.start()
        send_all(port, messages, list(range(TOTAL)), acked_before_kill, on_ack=enough)
        killer.join(10)
        assert server.wait(10) == -9
    finally:
        stop_process(server)
    assert KILL_AFTER <= len(acked_before_kill) < TOTAL
    print(f"killed after {time.monotonic() - began:.1f} s with {len(acked_before_kill)} acknowledged")

    # Every acknowledged message survived, byte for byte (a new engine: nothing cached).
    fresh = open_fresh(config)
    try:
        with fresh.factory() as session:
            stored = {digest: n for digest in session.scalars(select(RawMessage.sha256))
                      if (n := by_digest.get(digest)) is not None}
            processed_at_kill = session.scalar(select(func.count()).select_from(RawMessage)
                                               .where(RawMessage.status == RawStatus.PROCESSED))
    finally:
        fresh.close()
    assert acked_before_kill <= set(stored.values())
    assert processed_at_kill is not None and processed_at_kill < len(stored)  # killed mid-work

    # Phase 2: restart; the clients retry what was not acknowledged, like an MTA would.
    server = start_server_process(config, log)
    try:
        wait_for_port(port, proc=server)
        acked_after: set[int] = set()
        missing = sorted(set(range(TOTAL)) - acked_before_kill)
        send_all(port, messages, missing, acked_after, retries=3)
        assert acked_after == set(missing)
        print(f"resent {len(missing)} by {time.monotonic() - began:.1f} s")
        fresh = open_fresh(config)
        maildir = fresh.settings.data_path / "outbox" / "new"
        try:
            def drained() -> bool:
                with fresh.factory() as session:
                    waiting = session.scalar(select(func.count()).select_from(RawMessage)
                                             .where(RawMessage.status == RawStatus.RECEIVED))
                    queued = session.scalar(select(func.count()).select_from(OutboxMessage)
                                            .where(OutboxMessage.status == OutboxStatus.QUEUED))
                return waiting == 0 and queued == 0 and len(list(maildir.iterdir())) >= TOTAL

            assert wait_until(drained, 150, 0.5), "the queue did not drain"
            print(f"drained by {time.monotonic() - began:.1f} s")
            check_exactly_once(fresh.factory, by_digest, maildir)
        finally:
            fresh.close()
        assert stop_process(server) == 0
    finally:
        stop_process(server)


def check_exactly_once(factory, by_digest: dict[str, int], maildir: Path) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        raws = session.execute(select(RawMessage.id, RawMessage.sha256, RawMessage.status,
                                      RawMessage.message_id)).all()
        reports_per_raw = Counter(session.scalars(select(Report.raw_message_id)))
        cases = session.scalar(select(func.count()).select_from(Case))
        acks = session.execute(select(OutboxMessage.status, func.count())
                               .where(OutboxMessage.kind == "acknowledgement")
                               .group_by(OutboxMessage.status)).all()
    # Each of the 2,000 messages is stored once, processed, and filed as one report in its own case.
    assert sorted(by_digest[sha] for _, sha, _, _ in raws) == list(range(TOTAL))
    assert {status for _, _, status, _ in raws} == {RawStatus.PROCESSED}
    assert all(reports_per_raw[raw_id] == 1 for raw_id, _, _, _ in raws)
    assert cases == TOTAL
    assert acks == [(OutboxStatus.SENT, TOTAL)]
    # Exactly one acknowledgement file per report, threaded to the report it answers.
    def key(message_id: str | None) -> str:
        return (message_id or "").strip().strip("<>").lower()

    message_ids = {key(mid): raw_id for raw_id, _, _, mid in raws}
    answered: Counter[int] = Counter()
    files = list(maildir.iterdir())
    for path in files:
        ack = email.message_from_bytes(path.read_bytes())
        answered[message_ids[key(str(ack["In-Reply-To"]))]] += 1
    assert len(files) == TOTAL
    assert set(answered.values()) == {1} and len(answered) == TOTAL
