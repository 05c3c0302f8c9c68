"""The worker claims a batch of waiting messages at once (issue 8).

Emergencies first and never held back; a message tried before is claimed alone, so a poison
message in a batch costs its batch-mates one attempt and is then quarantined by itself; a
crash in the middle of a batch loses nothing and processes nothing twice; a report forwarded
twice in one batch is filed once, as across batches.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import func, select, update

from stopit_mail.app import App
from stopit_mail.cases.pretriage import prioritiser
from stopit_mail.ingest.rawstore import Envelope, store_raw
from stopit_mail.models import Case, Evidence, Party, RawMessage, RawStatus, Report
from stopit_mail.processing import heartbeat, runner
from stopit_mail.processing.claims import claim_batch
from stopit_mail.processing.context import Context, StoredMessage

from smtp_helpers import report_message

SELF_HARM = (b"From: Sam <sam@example.org>\r\nTo: stopit@example.edu\r\nSubject: please read\r\n"
             b"Message-ID: <sh-batch@example.org>\r\n\r\nI am going to kill myself tonight.\r\n")


def store(app: App, content: bytes) -> int:
    casework = app.settings.casework
    return store_raw(app.factory, content, Envelope("smtp", "x@example.org", ["stopit@example.edu"]),
                     prioritise=prioritiser(casework.triage_rules, casework.disabled_triage_rules)).raw_id


def rows(app: App) -> dict[int, tuple[RawStatus, int]]:
    with app.factory() as session:
        return {r.id: (r.status, r.attempts) for r in session.scalars(select(RawMessage))}


def test_a_batch_takes_what_waits_of_the_most_urgent_level_only(any_app: App) -> None:
    backlog = [store(any_app, report_message(n)) for n in range(5)]
    emergency = store(any_app, SELF_HARM)
    # The emergency alone: it is never made to wait for, nor share its write with, the backlog.
    assert [m.id for m in claim_batch(any_app.factory, any_app.settings, 8)] == [emergency]
    first = claim_batch(any_app.factory, any_app.settings, 3)
    assert [m.id for m in first] == backlog[:3] and all(m.content.startswith(b"From:") for m in first)
    # What is waiting, not more: the batch does not wait to fill.
    assert [m.id for m in claim_batch(any_app.factory, any_app.settings, 8)] == backlog[3:]
    assert claim_batch(any_app.factory, any_app.settings, 8) == []
    assert {attempts for _status, attempts in rows(any_app).values()} == {1}


def test_a_message_tried_before_is_claimed_alone(any_app: App) -> None:
    ids = [store(any_app, report_message(n)) for n in range(4)]
    with any_app.factory() as session, session.begin():
        session.execute(update(RawMessage).where(RawMessage.id.in_([ids[0], ids[2]])).values(attempts=1))
    claim = [[m.id for m in claim_batch(any_app.factory, any_app.settings, 8)] for _ in range(4)]
    # The oldest was tried: alone. Then the untried ones together (the tried ids[2] waits its turn).
    assert claim == [[ids[0]], [ids[1], ids[3]], [ids[2]], []]


class Crash(BaseException):
    """The process dies in the middle of a batch (as under kill -9: claims committed, nothing written)."""


def test_a_poison_message_in_a_batch_is_quarantined_alone_and_the_others_are_processed(
        any_app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    any_app.settings.outbound.acks_per_domain_per_hour = 100
    ids = [store(any_app, report_message(n)) for n in range(4)]
    poison = ids[1]
    real = runner.compute

    def compute(factory, settings, stored: StoredMessage, *rest) -> Context:  # type: ignore[no-untyped-def]
        if stored.id == poison:
            raise Crash  # every attempt on it kills the worker
        return real(factory, settings, stored, *rest)

    monkeypatch.setattr(runner, "compute", compute)
    crashes = 0
    for _turn in range(10):
        try:
            if not runner.process_batch(any_app.factory, any_app.settings, 8):
                break
        except Crash:
            crashes += 1
            heartbeat.release_leases(any_app.factory)  # what a restarted worker does first
    final = rows(any_app)
    max_attempts = any_app.settings.limits.max_attempts
    assert crashes == max_attempts
    assert final[poison] == (RawStatus.QUARANTINED, max_attempts + 1)
    # Each batch-mate paid for the crash once, then went through alone.
    assert {i: final[i] for i in ids if i != poison} == {i: (RawStatus.PROCESSED, 2) for i in ids if i != poison}
    with any_app.factory() as session:
        reason = session.scalar(select(RawMessage.reason).where(RawMessage.id == poison))
        assert reason is not None and reason.startswith(f"gave up after {max_attempts} attempts")
        assert sorted(session.scalars(select(Report.raw_message_id))) == [i for i in ids if i != poison]


def forward_of_the_same_original(number: int) -> bytes:
    """A reporter forwarding, as an attachment, the one offending message many received."""
    original = ("From: Bully <bully@webmail.example>\r\nTo: class@example.edu\r\nSubject: you all\r\n"
                "Date: Tue, 17 Nov 2026 18:03:10 -0500\r\nMessage-ID: <the-one-original@webmail.example>\r\n\r\n"
                "Everyone in this class will regret it.\r\n")
    return (f"From: Reporter {number} <reporter{number}@example.org>\r\nTo: stopit@example.edu\r\n"
            f"Subject: Fwd: you all\r\nMessage-ID: <fwd-{number}@example.org>\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
            f"This came to our whole class.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n{original}"
            f"\r\n--b--\r\n").encode()


def test_a_report_forwarded_twice_in_one_batch_is_filed_on_one_case(
        any_app: App, caplog: pytest.LogCaptureFixture) -> None:
    ids = [store(any_app, content) for content in (forward_of_the_same_original(0), report_message(7),
                                                   forward_of_the_same_original(1))]
    with caplog.at_level(logging.INFO, logger="stopit_mail.processing.write"):
        done = runner.process_batch(any_app.factory, any_app.settings, 8)
    assert [(o.raw_id, o.status) for o in done] == [(i, "processed") for i in ids]
    # Written together, with the rows of the batch held to its end (not rolled back and written
    # again one message at a time).
    assert not [r for r in caplog.records if "rolled back" in r.getMessage()]
    with any_app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == 2
        filed = {r.raw_message_id: r.case_id for r in session.execute(select(Report.raw_message_id, Report.case_id))}
        assert filed[ids[0]] == filed[ids[2]] != filed[ids[1]]
        # The original once per report, under the same case; its sender a party once.
        rows = session.execute(select(Evidence.report_id, Evidence.kind, Evidence.fingerprint)
                               .where(Evidence.case_id == filed[ids[0]])).all()
        assert sorted(kind for _, kind, _ in rows) == ["attached-message", "attached-message"]
        assert len({report for report, _, _ in rows}) == 2 and len({fp for _, _, fp in rows}) == 1
        assert list(session.scalars(select(Party.address).where(
            Party.case_id == filed[ids[0]], Party.role == "alleged-sender"))) == ["bully@webmail.example"]


CRASH_BEFORE_THE_WRITE = textwrap.dedent("""
    import os, sys
    from stopit_mail.app import open_app
    from stopit_mail.processing import runner
    app = open_app(sys.argv[1], migrate=False)
    def crash(*args, **kwargs):
        os._exit(9)  # killed with the whole batch computed, before its write commits
    runner.write = crash
    runner.process_batch(app.factory, app.settings, 8)
""")


def test_a_crash_in_the_middle_of_a_batch_loses_nothing_and_processes_nothing_twice(any_app: App) -> None:
    ids = [store(any_app, report_message(n)) for n in range(4)]
    config = str(any_app.settings.base_dir / "stopit.toml")
    done = subprocess.run([sys.executable, "-c", CRASH_BEFORE_THE_WRITE, config], timeout=120, check=False)
    assert done.returncode == 9
    assert rows(any_app) == {i: (RawStatus.RECEIVED, 1) for i in ids}
    heartbeat.release_leases(any_app.factory)
    outcomes = [o for _ in range(5) for o in runner.process_batch(any_app.factory, any_app.settings, 8)]
    assert sorted(o.raw_id for o in outcomes if o.status == "processed") == ids
    assert rows(any_app) == {i: (RawStatus.PROCESSED, 2) for i in ids}
    with any_app.factory() as session:
        assert sorted(session.scalars(select(Report.raw_message_id))) == ids
        assert session.scalar(select(func.count(Case.id))) == 4
