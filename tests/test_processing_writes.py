"""The worker's cheap writes (issue 8): few statements per report, Core writes that read back right.

The speed itself is measured by `bench/ingest.py`; these tests hold what the speed rests on: the
number of SQL statements a batch of reports costs (a count, not a time), held case updates that
every later read sees in order, an acknowledgement queued once per key in one statement, and the
identity key kept per process but read again as soon as its file changes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from stopit_mail.app import App
from stopit_mail.cases.triage import TriageDecision
from stopit_mail.cases.triage_apply import apply_report_triage
from stopit_mail.ingest.rawstore import Envelope, store_raw
from stopit_mail.models import Case, CaseStatus, OutboxMessage, RawMessage, RawStatus
from stopit_mail.outbound.compose import Draft
from stopit_mail.outbound.outbox import queue
from stopit_mail.processing import runner
from stopit_mail.rowbuffer import holding_rows, write_through
from stopit_mail.sealing import IdentityKeyError, create_key, key_path, recipient_key, secret_key_text

from casework_helpers import bare_case
from smtp_helpers import report_message

# A batch of eight new reports: 9.1 statements each on SQLite and 9.8 on PostgreSQL (claims,
# reads and writes), against 14.9 before the case was written through Core, the organisation's
# examples read once per batch, the aliases inserted in one statement that also skips taken
# codes, and the acknowledgement's look-ups folded into one statement each.
MAX_STATEMENTS_PER_REPORT = 10


def test_a_batch_of_reports_costs_few_statements_each(any_app: App) -> None:
    any_app.settings.outbound.acks_per_domain_per_hour = 100
    envelope = Envelope(source="smtp", mail_from="x@example.org", rcpt_to=["stopit@example.edu"])
    for n in range(8):
        store_raw(any_app.factory, report_message(n), envelope)
    sent: list[str] = []
    engine = any_app.factory.kw["bind"]

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        done = runner.process_batch(any_app.factory, any_app.settings, 8)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [o.status for o in done] == ["processed"] * 8
    print(f"statements per report: {len(sent) / 8:.2f}")
    assert len(sent) / 8 <= MAX_STATEMENTS_PER_REPORT, sent
    with any_app.factory() as session:
        assert set(session.scalars(select(RawMessage.status))) == {RawStatus.PROCESSED}
        assert session.scalar(select(func.count(OutboxMessage.id))) == 8
        # The triage written through Core is on every case, with its language.
        cases = session.scalars(select(Case)).all()
        assert len(cases) == 8
        assert {c.status for c in cases} == {CaseStatus.TRIAGED}
        assert all(c.triage and c.triage["automatic"] and c.language for c in cases)


def test_held_case_updates_are_read_back_and_land_before_a_later_orm_change(any_app: App) -> None:
    case_id = bare_case(any_app)
    with any_app.factory() as session, session.begin(), holding_rows(session) as buffer:
        case = session.get(Case, case_id)
        assert case is not None
        apply_report_triage(session, case, TriageDecision(["threat"], "urgent", []))
        assert buffer.updates and not session.dirty  # held, nothing left for the ORM to flush
        # The object reads its new values at once; a SQL read of the table sees them too.
        assert (case.urgency, case.status) == ("urgent", CaseStatus.TRIAGED)
        assert session.scalar(select(Case.urgency).where(Case.id == case_id)
                              .execution_options(populate_existing=True)) == "urgent"
        write_through(session, case, {"language": "fr"})
        case.urgency = "emergency"  # a later ORM change of a held column wins, as written last
        session.flush()
    with any_app.factory() as session:
        row = session.get(Case, case_id)
        assert row is not None
        assert (row.urgency, row.language, row.status, row.categories) == ("emergency", "fr", CaseStatus.TRIAGED,
                                                                            ["threat"])


def test_an_acknowledgement_is_queued_once_per_key(any_app: App) -> None:
    case_id = bare_case(any_app)
    draft = Draft(from_address="stopit@example.edu", from_name="stopit", to=["r@example.org"], subject="s", body="b")
    with any_app.factory() as session, session.begin():
        first = queue(session, draft, "acknowledgement", "ack:42", case_id)
        again = queue(session, draft, "acknowledgement", "ack:42", case_id)
        other = queue(session, draft, "acknowledgement", "ack:43", case_id)
    assert first == again != other
    with any_app.factory() as session:
        assert sorted(session.scalars(select(OutboxMessage.dedup_key))) == ["ack:42", "ack:43"]


def _age(path: Path) -> None:
    """Make the file look written long ago, so the key it holds may be kept in memory."""
    os.utime(path, (1_000_000_000, 1_000_000_000))


def test_the_identity_key_is_read_again_when_its_file_changes(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(app.settings.casework.identity_key_env, raising=False)
    path = key_path(app.settings)
    _age(path)
    original = path.read_bytes()
    before = recipient_key(app.settings, "reporter@example.org")
    assert recipient_key(app.settings, "reporter@example.org") == before  # kept: same answer
    # Rotated (a new file in its place): the new key counts at once.
    create_key(app.settings, replace=True)
    _age(path)
    rotated = recipient_key(app.settings, "reporter@example.org")
    assert rotated != before
    # Written back in place, same size, and its times set back: the change time still tells.
    path.write_bytes(original)
    _age(path)
    assert recipient_key(app.settings, "reporter@example.org") == before
    assert secret_key_text(app.settings) == original.strip()
    # Removed: missing at once, never answered from memory.
    path.unlink()
    with pytest.raises(IdentityKeyError):
        secret_key_text(app.settings)


def test_the_duplicate_search_looks_up_the_evidence_keys_not_every_case(app: App) -> None:
    """Each report filed searches the organisation's evidence for its offending messages: through
    the indexes of the Message-ID key and the fingerprint, never a walk through every evidence row
    of every case of the organisation (what SQLite planned for the query written as one OR)."""
    from stopit_mail.cases.service import find_duplicate_case
    from stopit_mail.extract.evidence import EvidenceItem
    from stopit_mail.models import Completeness

    # Two offending messages (with one, SQLite found the indexes even for the query as it was).
    items = [EvidenceItem(kind="attached-message", completeness=Completeness.FULL, mime_path=str(n),
                          message_id=f"<x{n}@example.net>", from_address="bully@example.net",
                          body_text=f"you will regret it, everyone knows where you live ({n})") for n in (1, 2)]
    sent: list[tuple[str, object]] = []

    def seen(conn: object, cursor: object, statement: str, parameters: object, *rest: object) -> None:
        if "evidence" in statement and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    engine = app.factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with app.factory() as session:
            assert find_duplicate_case(session, items, "default") is None
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(sent) == 1
    with engine.connect() as connection:
        plan = " / ".join(row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sent[0][0],
                                                                      sent[0][1]))  # type: ignore[arg-type]
    assert "ix_evidence_message_id_key" in plan and "ix_evidence_fingerprint" in plan, plan
    assert "ix_cases_organisation" not in plan and "ix_evidence_case_id" not in plan, plan


def test_a_taken_or_repeated_alias_code_is_replaced_by_a_fresh_one(any_app: App) -> None:
    from stopit_mail.cases.aliases import ALLEGED_SENDER, REPORTER, create_aliases
    from stopit_mail.models import CaseAlias

    case_id = bare_case(any_app)
    with any_app.factory() as session, session.begin():
        first = create_aliases(session, case_id, [(REPORTER, None, "takencode001")])
        # The taken code and one code asked for twice: every alias still gets a code of its own.
        again = create_aliases(session, case_id, [(REPORTER, None, "takencode001"), (ALLEGED_SENDER, None, "twice0000001"),
                                                  (REPORTER, None, "twice0000001")])
    assert first[0].code == "takencode001"
    assert again[0].code != "takencode001" and again[1].code == "twice0000001" and again[2].code != "twice0000001"
    with any_app.factory() as session:
        rows = {a.id: (a.code, a.side) for a in session.scalars(select(CaseAlias).where(CaseAlias.case_id == case_id))}
    assert rows == {a.id: (a.code, side) for a, side in zip(first + again, [REPORTER, REPORTER, ALLEGED_SENDER, REPORTER],
                                                            strict=True)}
