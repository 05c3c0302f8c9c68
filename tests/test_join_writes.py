"""Reports joining a case (issue 8): one read, and the case's parties right without reading them.

Most reports of a busy mailbox join a case (the same chain letter, the same bully's message
forwarded by several students). Joining reads the case and whether it has its alleged sender's
alias in one statement; the case's parties are never read: the INSERT skips a party the case
has already (in the database or held for the batch), its four columns being unique.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import delete, event, select

from stopit_mail.app import App
from stopit_mail.cases import service
from stopit_mail.cases.aliases import ALLEGED_SENDER
from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.ingest.rawstore import Envelope, store_raw
from stopit_mail.models import Case, CaseAlias, Party, Report
from stopit_mail.processing import runner

ENVELOPE = Envelope(source="smtp", mail_from="x@example.org", rcpt_to=["stopit@example.edu"])


def joining_report(number: int, recipient: str) -> bytes:
    """Reporter `number` forwarding the one offending message every joining report holds, as
    received by `recipient` (an other recipient of the case when it is not the reporter)."""
    return (
        f"From: Reporter {number} <reporter{number}@example.org>\r\nTo: stopit@example.edu\r\n"
        f"Subject: Fw: this again\r\nDate: Tue, 17 Nov 2026 18:03:10 -0500\r\n"
        f"Message-ID: <join-{number}-{time.time_ns()}@example.org>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nIt was sent to half the class.\r\n\r\n"
        f"________________________________\r\nFrom: Bully <bully@webmail.example>\r\n"
        f"Sent: Tuesday, November 17, 2026 5:58 PM\r\nTo: {recipient}\r\nSubject: everyone read this\r\n\r\n"
        f"Nobody wants you here, leave this school before friday or else.\r\n"
    ).encode()


def _process(app: App, messages: list[bytes]) -> list[str]:
    """Store `messages`, process them as one batch; the SQL statements it sent."""
    for content in messages:
        store_raw(app.factory, content, ENVELOPE)
    sent: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        sent.append(" ".join(statement.split()))

    engine = app.factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        done = runner.process_batch(app.factory, app.settings, len(messages))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [o.status for o in done] == ["processed"] * len(messages)
    return sent


def _parties(app: App) -> list[tuple[str, str]]:
    with app.factory() as session:
        return sorted((role, address) for role, address in session.execute(select(Party.role, Party.address)))


def test_joining_reports_read_only_the_case_and_write_each_party_once(any_app: App) -> None:
    any_app.settings.outbound.acks_per_domain_per_hour = 100
    _process(any_app, [joining_report(0, "reporter0@example.org")])
    # Eight more reports of the same message in one batch: the recipients repeat among them and
    # with the case's (a held row and a stored row are both skipped), four are new.
    recipients = ["friend1@example.org", "friend2@example.org", "friend1@example.org", "reporter0@example.org",
                  "friend2@example.org", "friend1@example.org", "reporter6@example.org", "friend1@example.org"]
    sent = _process(any_app, [joining_report(n, recipient) for n, recipient in enumerate(recipients, 1)])
    reads = [s for s in sent if s.upper().startswith("SELECT")]
    # No report reads the case's parties, nor looks for its alleged sender's alias on its own.
    assert not [s for s in reads if "FROM parties" in s], reads
    assert not [s for s in reads if s.startswith("SELECT case_aliases.id FROM case_aliases")], reads
    assert len([s for s in reads if "FROM cases" in s]) == 8  # one read of the case per report
    with any_app.factory() as session:
        assert len(session.scalars(select(Case)).all()) == 1
        assert len(session.scalars(select(Report)).all()) == 9
    reporters = [("reporter", f"reporter{n}@example.org") for n in range(9)]
    others = [("recipient", "friend1@example.org"), ("recipient", "friend2@example.org"),
              ("recipient", "reporter0@example.org"), ("recipient", "reporter6@example.org")]
    assert _parties(any_app) == sorted([("alleged-sender", "bully@webmail.example"), *reporters, *others])


def test_a_database_without_insert_on_conflict_reads_the_parties_instead(app: App,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Elsewhere than SQLite and PostgreSQL the case's parties, stored and held, are read first."""
    monkeypatch.setattr(service, "_INSERT_PARTIES", {})
    _process(app, [joining_report(0, "reporter0@example.org")])
    sent = _process(app, [joining_report(n, f"friend{n % 2}@example.org") for n in range(1, 5)])
    assert len([s for s in sent if s.startswith("SELECT parties.")]) == 4
    assert _parties(app) == sorted([("alleged-sender", "bully@webmail.example"), ("recipient", "friend0@example.org"),
                                    ("recipient", "friend1@example.org"),
                                    *[("reporter", f"reporter{n}@example.org") for n in range(5)]])


def test_joining_a_case_without_its_senders_alias_creates_it(any_app: App) -> None:
    """An older case (from before every case had one) gets its alleged sender's alias when a
    report joins it; a case that has one keeps it alone."""
    _process(any_app, [joining_report(0, "reporter0@example.org")])
    sender_alias = select(CaseAlias.code).where(CaseAlias.side == ALLEGED_SENDER, CaseAlias.report_id.is_(None))
    with any_app.factory() as session, session.begin():
        session.execute(delete(CaseAlias).where(CaseAlias.side == ALLEGED_SENDER, CaseAlias.report_id.is_(None)))
    _process(any_app, [joining_report(1, "reporter1@example.org")])
    with any_app.factory() as session:
        codes = list(session.scalars(sender_alias))
        case = session.scalars(select(Case)).one()
    assert codes == [case.sender_code]
    _process(any_app, [joining_report(2, "reporter2@example.org"), joining_report(3, "reporter3@example.org")])
    with any_app.factory() as session:
        assert list(session.scalars(sender_alias)) == codes


def test_reporter_codes_are_random_over_the_whole_alphabet() -> None:
    """Drawn from one read of 60 random bits: every character of every code from the alphabet,
    each position taking all 32 characters, and no code twice."""
    from stopit_mail.cases.codes import _ALPHABET, REPORTER_CODE_LENGTH, new_reporter_code

    codes = [new_reporter_code() for _ in range(3000)]
    assert len(set(codes)) == len(codes)
    assert all(len(code) == REPORTER_CODE_LENGTH and set(code) <= set(_ALPHABET) for code in codes)
    assert all({code[i] for code in codes} == set(_ALPHABET) for i in range(REPORTER_CODE_LENGTH))



def test_the_case_a_report_joins_is_attached_clean_and_complete(any_app: App) -> None:
    """The duplicate search builds the case from its Core row without the constructor: the
    object must be exactly a loaded one (every column read back without a query, nothing
    pending, its relationships loaded on demand, and a later change flushed)."""
    _process(any_app, [joining_report(0, "reporter0@example.org")])
    with any_app.factory() as session:
        stored = session.scalars(select(Case)).one()
        expected = {c.key: getattr(stored, c.key) for c in Case.__table__.columns}
    extraction = extract_evidence(joining_report(1, "reporter1@example.org"))
    sent: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        sent.append(statement)

    engine = any_app.factory.kw["bind"]
    with any_app.factory() as session, session.begin():
        case = service.find_duplicate_case(session, extraction.items, stored.organisation)
        assert case is not None
        event.listen(engine, "before_cursor_execute", seen)
        try:
            assert {c.key: getattr(case, c.key) for c in Case.__table__.columns} == expected
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert not sent
        assert not session.dirty and not session.new and case in session
        assert len(case.reports) == 1  # loaded on demand
        case.title = "renamed"
    with any_app.factory() as session:
        found = session.get(Case, expected["id"])
        assert found is not None and found.title == "renamed"
