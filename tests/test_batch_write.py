"""Writing a batch together, then one by one when any message of it fails (issue 8).

The worker writes its computed messages in one transaction without a savepoint each; a failure
rolls that attempt back and writes the batch again with a savepoint per message and per side
step. Each message must end exactly as if it had been written alone.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from stopit_mail.app import App
from stopit_mail.ingest.rawstore import Envelope, store_raw
from stopit_mail.models import Case, Event, OutboxMessage, RawMessage, RawStatus, Report
from stopit_mail.processing import runner
from stopit_mail.processing.context import Context, Quarantine
from stopit_mail.processing.handlers.acknowledge import Acknowledge
from stopit_mail.processing.handlers.open_case import OpenCase

from smtp_helpers import report_message


def store(app: App, count: int) -> list[int]:
    app.settings.outbound.acks_per_domain_per_hour = 100
    envelope = Envelope(source="smtp", mail_from="x@example.org", rcpt_to=["stopit@example.edu"])
    return [store_raw(app.factory, report_message(n), envelope).raw_id for n in range(count)]


def statuses(app: App) -> dict[int, RawStatus]:
    with app.factory() as session:
        return {row.id: row.status for row in session.scalars(select(RawMessage))}


def test_a_batch_is_written_together_in_one_transaction(any_app: App) -> None:
    ids = store(any_app, 4)
    done = runner.process_batch(any_app.factory, any_app.settings, 4)
    assert [o.status for o in done] == ["processed"] * 4
    assert set(statuses(any_app).values()) == {RawStatus.PROCESSED}
    with any_app.factory() as session:
        assert session.scalar(select(func.count(Report.id))) == 4
        assert session.scalar(select(func.count(OutboxMessage.id))) == 4
        assert sorted(session.scalars(select(Report.raw_message_id))) == ids


def test_a_failing_side_step_in_a_batch_fails_alone(any_app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = store(any_app, 3)
    real = Acknowledge.process

    def broken_for_one(self: Acknowledge, ctx: Context) -> None:
        real(self, ctx)  # its writes too must be rolled back with its savepoint
        if ctx.raw.id == ids[1]:
            raise RuntimeError("template exploded")

    monkeypatch.setattr(Acknowledge, "process", broken_for_one)
    done = runner.process_batch(any_app.factory, any_app.settings, 3)
    assert [o.status for o in done] == ["processed"] * 3
    with any_app.factory() as session:
        failed = session.scalars(select(Event).where(Event.action == "side-step-failed")).all()
        assert [e.detail["raw_message_id"] for e in failed] == [ids[1]]
        acked = set(session.scalars(select(OutboxMessage.dedup_key)))
        assert acked == {f"ack:{ids[0]}", f"ack:{ids[2]}"}
        assert session.scalar(select(func.count(Case.id))) == 3


def test_a_quarantine_in_a_batch_sets_aside_only_that_message(any_app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = store(any_app, 3)
    real = OpenCase.process

    def refuse_one(self: OpenCase, ctx: Context) -> None:
        real(self, ctx)  # the case it opened must not survive
        if ctx.raw.id == ids[0]:
            raise Quarantine("open-case: refused for the test")

    monkeypatch.setattr(OpenCase, "process", refuse_one)
    done = runner.process_batch(any_app.factory, any_app.settings, 3)
    assert sorted((o.raw_id, o.status) for o in done) == [
        (ids[0], "quarantined"), (ids[1], "processed"), (ids[2], "processed")]
    assert statuses(any_app) == {ids[0]: RawStatus.QUARANTINED, ids[1]: RawStatus.PROCESSED,
                                 ids[2]: RawStatus.PROCESSED}
    with any_app.factory() as session:
        assert sorted(session.scalars(select(Report.raw_message_id))) == ids[1:]
        assert session.scalar(select(func.count(Case.id))) == 2
        assert session.scalar(select(func.count(Event.id)).where(Event.action == "case-opened")) == 2
