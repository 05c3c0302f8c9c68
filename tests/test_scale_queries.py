"""The cheaper queries behind `cases list|show` give the answers the full scans gave."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from stopit_mail.app import App, open_app
from stopit_mail.cases.queries import CaseFilter, count_cases, get_case, list_cases
from stopit_mail.cases.search import search_cases
from stopit_mail.db import make_engine, session_factory, transaction, upgrade_database
from stopit_mail.errors import NotFound
from stopit_mail.models import Case, CaseCounter, Event, Party

from factories import add_report, cli, make_case, write_two_org_config

OPENED = datetime(2026, 3, 1, tzinfo=UTC)


def numbered(session: Session, number: str) -> Case:
    case = make_case(session, "north", OPENED)
    case.number = number
    return case


def test_a_tail_is_found_through_the_counters_and_an_ambiguous_one_is_refused(tmp_path: Path) -> None:
    app: App = open_app(write_two_org_config(tmp_path))
    with transaction(app.factory) as s:
        s.add_all([CaseCounter(prefix="Q", year=2025, last=50), CaseCounter(prefix="Q", year=2026, last=7),
                   CaseCounter(prefix="R", year=2026, last=3)])
        numbered(s, "Q-2025-0042")
        numbered(s, "Q-2026-0007")
        numbered(s, "Q-2025-0007")
        numbered(s, "R-2026-0003")
    with transaction(app.factory) as s:
        assert get_case(s, "42").number == "Q-2025-0042"
        assert get_case(s, "2026-7").number == "Q-2026-0007"
        assert get_case(s, "3").number == "R-2026-0003"
        try:
            get_case(s, "7")
        except NotFound as refused:
            assert "Q-2025-0007" in str(refused) and "Q-2026-0007" in str(refused)
        else:
            raise AssertionError("an ambiguous tail was guessed")
        # A number no counter accounts for (an import) is still found, by the slower scan.
        numbered(s, "X-2019-0999")
    with transaction(app.factory) as s:
        assert get_case(s, "999").number == "X-2019-0999"
    app.close()


def test_a_page_counts_reports_and_evidence_and_names_the_senders(tmp_path: Path) -> None:
    config = write_two_org_config(tmp_path)
    app: App = open_app(config)
    with transaction(app.factory) as s:
        lone = make_case(s, "north", OPENED, senders=["b@x.example", "a@x.example"])
        busy = make_case(s, "north", OPENED, keys=["<1@x>", "<2@x>"])
        add_report(s, busy, OPENED, keys=["<3@x>"])
        numbers = (lone.number, busy.number)
    with transaction(app.factory) as s:
        rows = {row["number"]: row for row in list_cases(s)}
    assert (rows[numbers[0]]["reports"], rows[numbers[0]]["evidence"]) == (1, 1)
    assert rows[numbers[0]]["alleged_senders"] == ["a@x.example", "b@x.example"]
    assert (rows[numbers[1]]["reports"], rows[numbers[1]]["evidence"]) == (2, 3)
    assert rows[numbers[1]]["alleged_senders"] == []
    app.close()
    assert "showing 1-2 of 2" in cli(config, "--as", "Ada", "cases", "list")


def test_notes_are_searched_in_the_database_on_both_databases(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    upgrade_database(engine)
    factory = session_factory(engine)
    with transaction(factory) as s:
        case = make_case(s, "north", OPENED, title="locker")
        other = make_case(s, "north", OPENED, title="bus")
        s.add_all([Event(case_id=case.id, actor="Ada", action="note-added", automatic=False,
                         detail={"text": "Spoke to the head of year; meet behind the Gym tomorrow"}),
                   Event(case_id=other.id, actor="Ada", action="case-assigned", automatic=False,
                         detail={"text": "behind the gym"})])
        number = case.number
    with transaction(factory) as s:
        # Three characters or more go through FTS5 on SQLite and the trigram indexes on PostgreSQL;
        # two characters through LIKE on both.
        for words in ("behind the gym", "gy"):
            found = search_cases(s, words)
            assert [hit["number"] for hit in found] == [number], words
            assert found[0]["matches"] == [{"field": "note", "snippet": found[0]["matches"][0]["snippet"]}]
            assert words.lower() in found[0]["matches"][0]["snippet"].lower()
    engine.dispose()


def test_offender_filter_finds_fragments_through_the_sender_index(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    upgrade_database(engine)
    factory = session_factory(engine)
    with transaction(factory) as s:
        alice = make_case(s, "north", OPENED, senders=["Alice.Smith@mail.example"])
        bob = make_case(s, "north", OPENED, senders=["bob@other.example"])
        make_case(s, "north", OPENED, reporter="alice.smith@mail.example")  # a reporter, not a sender
        s.add(Party(case_id=bob.id, role="alleged-sender", address="", display_name="Smithers"))
        numbers = {"alice": alice.number, "bob": bob.number}

    def listed(fragment: str) -> set[str]:
        with transaction(factory) as s:
            where = CaseFilter(offender=fragment)
            rows = list_cases(s, where)
            assert count_cases(s, where) == len(rows)
            return {row["number"] for row in rows}

    assert listed("alice.smith@") == {numbers["alice"]}
    assert listed("SMITH") == {numbers["alice"], numbers["bob"]}
    assert listed("sm") == {numbers["alice"], numbers["bob"]}  # too short for trigrams: LIKE
    assert listed("mail.example\nbob") == set()  # never across the address/name boundary
    with transaction(factory) as s:
        s.execute(update(Party).where(Party.display_name == "Smithers").values(display_name="Jones"))
        s.execute(delete(Party).where(Party.address == "bob@other.example"))
    assert listed("smith") == {numbers["alice"]}
    assert listed("bob@") == set()
    engine.dispose()


def test_search_reads_more_batches_until_it_has_a_page_of_cases(tmp_path: Path) -> None:
    app: App = open_app(write_two_org_config(tmp_path))
    with transaction(app.factory) as s:
        older = make_case(s, "north", OPENED, title="bus stop threat")
        newer = make_case(s, "north", OPENED, title="gym")
        # The newer case's many matching notes fill the first batches (limit * 2 rows) by themselves.
        s.add_all([Event(case_id=newer.id, actor="Ada", action="note-added", automatic=False,
                         detail={"text": f"another bus stop threat, number {n}"}) for n in range(30)])
        numbers = [newer.number, older.number]
    with transaction(app.factory) as s:
        assert [hit["number"] for hit in search_cases(s, "bus stop threat", limit=2)] == numbers
        assert [hit["number"] for hit in search_cases(s, "bus stop threat", limit=1)] == numbers[:1]
    app.close()


def test_search_lists_the_newest_matching_cases_whatever_kind_of_text_matched(any_db_url: str) -> None:
    # Index rows are ordered by their source row's id, and events outnumber reports: walking one
    # order put this week's notes on old cases before newer reports (at a million cases "hallway
    # library regret" listed SI-2026-929430 first while SI-2026-997871 matched too).
    engine = make_engine(any_db_url)
    upgrade_database(engine)
    factory = session_factory(engine)
    with transaction(factory) as s:
        older = [make_case(s, "north", OPENED, title=f"old {n}") for n in range(3)]
        newer = [make_case(s, "north", OPENED, title=f"new {n}", body="the zebra crossing again") for n in range(3)]
        # Notes written today on the old cases: the newest rows of all.
        s.add_all([Event(case_id=case.id, actor="Ada", action="note-added", automatic=False,
                         detail={"text": "saw them at the zebra crossing"}) for case in older])
        numbers = [case.number for case in reversed(older + newer)]
    with transaction(factory) as s:
        for limit in (1, 2, 4, 6):
            found = search_cases(s, "zebra crossing", limit=limit)
            assert [hit["number"] for hit in found] == numbers[:limit], limit
        assert {m["field"] for hit in search_cases(s, "zebra crossing") for m in hit["matches"]} == {
            "evidence body", "note"}
    engine.dispose()


def test_few_matches_are_paged_through_the_filters_index_with_the_same_pages_and_totals(any_db_url: str) -> None:
    # `--since 1h` at a million cases walked every case newest first to find a handful; with the
    # total known to be small the page is read through the filter's index and sorted instead.
    from datetime import timedelta

    engine = make_engine(any_db_url)
    upgrade_database(engine)
    factory = session_factory(engine)
    with transaction(factory) as s:
        # Opened out of id order (an import of old mail opens old cases late).
        days = [5, 1, 9, 0, 3, 7, 2, 8, 4, 6, 1, 0]
        cases = [make_case(s, "north", OPENED + timedelta(days=d), urgency="urgent" if i % 3 else "routine")
                 for i, d in enumerate(days)]
        expected = [c.number for c in sorted(cases, key=lambda c: -c.id) if c.opened_at >= OPENED + timedelta(days=4)]
    with transaction(factory) as s:
        for where in (CaseFilter(since=OPENED + timedelta(days=4)),
                      CaseFilter(since=OPENED + timedelta(days=4), urgency="urgent")):
            total = count_cases(s, where)
            wanted = [n for n in expected if where.urgency is None or n in {
                c.number for c in cases if c.urgency == "urgent"}]
            assert total == len(wanted)
            for limit in (1, 2, 5):
                pages = [[row["number"] for row in list_cases(s, where, limit=limit, offset=offset, total=known)]
                         for known in (None, total) for offset in range(0, total + limit, limit)]
                walked, sorted_ = pages[:len(pages) // 2], pages[len(pages) // 2:]
                assert walked == sorted_ and sum(walked, []) == wanted, (where, limit)
    engine.dispose()


def test_assignee_filter_ignores_case_through_the_distinct_names(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    upgrade_database(engine)
    factory = session_factory(engine)
    with transaction(factory) as s:
        cases = [make_case(s, "north", OPENED) for _ in range(5)]
        for case, name in zip(cases, ("Nora", "nora", "Ada", None, "Nora Jones"), strict=True):
            case.assigned_to = name
        wanted = {cases[0].number, cases[1].number}
    with transaction(factory) as s:
        for spelled in ("NORA", "nora"):
            where = CaseFilter(assignee=spelled)
            assert {row["number"] for row in list_cases(s, where)} == wanted
            assert count_cases(s, where) == 2
        assert list_cases(s, CaseFilter(assignee="nobody")) == []
    engine.dispose()


def test_offenders_are_ranked_exactly_by_cases_not_by_rows(any_db_url: str) -> None:
    # The ranking starts from how many rows name each address (an index-only count) and counts
    # cases exactly only as far as the page needs: an address named twice in one case (two
    # display names) must not pass one named in more cases, and a reader limited to one
    # organisation counts only its cases.
    from stopit_mail.cases.offenders import list_offenders
    from stopit_mail.cases.staff import Actor

    engine = make_engine(any_db_url)
    upgrade_database(engine)
    factory = session_factory(engine)
    with transaction(factory) as s:
        plan = {"twice@x.example": ["north", "north"], "thrice@x.example": ["north", "south", "south"],
                "aliases@x.example": ["north", "north"], "once@x.example": ["north"],
                "tie-a@x.example": ["south", "south"], "tie-b@x.example": ["north", "south"]}
        for address, organisations in plan.items():
            for organisation in organisations:
                make_case(s, organisation, OPENED, senders=[address])
        # One more case for "aliases", under three display names: 5 rows, 3 cases.
        extra = make_case(s, "north", OPENED)
        s.add_all([Party(case_id=extra.id, role="alleged-sender", address="aliases@x.example", display_name=name,
                         domain="x.example") for name in ("Al", "Al Ias", "Ias, Al")])
    with transaction(factory) as s:
        ranked = [(row["address"], row["cases"]) for row in list_offenders(s, limit=10)]
        assert ranked == [("aliases@x.example", 3), ("thrice@x.example", 3), ("tie-a@x.example", 2),
                          ("tie-b@x.example", 2), ("twice@x.example", 2)]
        assert [row["address"] for row in list_offenders(s, limit=2)] == ["aliases@x.example", "thrice@x.example"]
        assert [row["address"] for row in list_offenders(s, minimum=3)] == ["aliases@x.example", "thrice@x.example"]
        north = Actor("Nora", organisations=frozenset({"north"}), restricted=True)
        assert [(row["address"], row["cases"]) for row in list_offenders(s, north)] == [
            ("aliases@x.example", 3), ("twice@x.example", 2)]
        assert all(row["last_case_opened"] for row in list_offenders(s))
    engine.dispose()


def test_the_waiting_queue_is_read_through_its_index_even_after_analyze(any_db_url: str) -> None:
    # With nearly every message processed, SQLite's statistics made `status` and the watchdog
    # read every stored message to find the few waiting (0.4 s each at a million).
    import hashlib
    from datetime import timedelta

    from sqlalchemy import text

    from stopit_mail.models import RawMessage, RawStatus
    from stopit_mail.processing import watchdog
    from stopit_mail.queues import queue_status, waiting

    engine = make_engine(any_db_url)
    upgrade_database(engine)
    factory = session_factory(engine)
    with transaction(factory) as s:
        for n in range(300):
            s.add(RawMessage(sha256=hashlib.sha256(b"%d" % n).hexdigest(), size=1, content=b"x", source="file",
                             received_at=OPENED + timedelta(minutes=n),
                             status=RawStatus.RECEIVED if n in (120, 250) else RawStatus.PROCESSED))
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
        if engine.dialect.name == "sqlite":
            statement = select(RawMessage.received_at).where(waiting()).compile(
                engine, compile_kwargs={"literal_binds": True})
            plan = " ".join(row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {statement}")))
            assert "ix_raw_messages_status" in plan, plan
    with transaction(factory) as s:
        status = queue_status(s, now=OPENED + timedelta(days=1))
        assert status["raw_messages"]["received"] == 2 and status["raw_messages"]["processed"] == 298
        # The oldest waiting one was received at minute 120.
        assert status["oldest_waiting_seconds"] == (timedelta(days=1) - timedelta(minutes=120)).total_seconds()
        assert watchdog.check(s, timedelta(minutes=5), now=OPENED + timedelta(days=1)).waiting == 2
    engine.dispose()
