"""Retention with legal hold, on a controllable clock (issue 11).

A closed case is purged on schedule and only after its warning; a held one is not; the stub
stays and `stats` still counts it; and nothing identifying is left in any table, in the SQLite
file or its write-ahead log, in the data folder or in an outbox copy.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from stopit_mail.app import App
from stopit_mail.cases.retention import RunResult, plan, run_due
from stopit_mail.cases.stats import compute_stats
from stopit_mail.config import load_settings
from stopit_mail.errors import ConfigError
from stopit_mail.models import Case, Event
from stopit_mail.outbound.sender import deliver_due

from casework_helpers import ingest, offending_message, report
from factories import cli

ALICE = "alice.reporter@example.edu"
ALICE_WORDS = "purple giraffe telescope"
BOB = "bob.reporter@example.edu"
BOB_WORDS = "orange kangaroo harmonica"
RETENTION = """closed_days = 30
warning_days = 7
[[organisations.retention.outcomes]]
outcome = "prank"
days = 3
"""


def _configure(app: App) -> Path:
    config = app.settings.base_dir / "stopit.toml"
    text = config.read_text().replace("closed_days = 0\nwarning_days = 14\n", RETENTION)
    config.write_text(text)
    return config


def _open_and_close(app: App, config: Path, reporter: str, words: str, tag: str) -> str:
    offending = offending_message(sender=f"bully-{tag}@example.net", to=reporter, body=f"You are a {words}.",
                                  message_id=f"<off-{tag}@example.net>")
    ingest(app, report(reporter=reporter, name=f"Reporter {tag}", wrapper=f"He keeps calling me {words}.",
                       original=offending))
    with app.factory() as session:
        number = session.scalars(select(Case.number).order_by(Case.id.desc())).first()
    assert number is not None
    cli(config, "--as", "Pat", "cases", "note", number, f"Called {reporter} about the {words}.")
    cli(config, "--as", "Pat", "cases", "close", number, "--outcome", "resolved-notice", "--resolution",
        f"sender stopped calling them {words}")
    return number


def _traces(folder: Path, needles: list[str]) -> list[str]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        for needle in needles:
            for encoded in (needle.lower().encode("utf-8"), needle.lower().encode("utf-16-le")):
                if encoded in data:
                    found.append(f"{path.relative_to(folder)}: {needle}")
    return found


def test_closed_case_is_purged_after_its_warning_held_one_is_kept(app: App) -> None:
    config = _configure(app)
    settings = load_settings(config)
    alice = _open_and_close(app, config, ALICE, ALICE_WORDS, "a")
    bob = _open_and_close(app, config, BOB, BOB_WORDS, "b")
    assert deliver_due(app.factory, settings)["sent"] >= 2  # acknowledgements land in the outbox Maildir
    cli(config, "--as", "Pat", "cases", "hold", bob, "--reason", "litigation hold, counsel ref 44")
    data = settings.data_path
    # Both cases are findable everywhere before: the search below can fail.
    assert _traces(data, [ALICE, "purple giraffe"]) and _traces(data / "outbox", [ALICE])
    start = datetime.now(UTC)

    def run(days: float) -> tuple[list[str], list[str]]:
        with app.factory() as session, session.begin():
            result = run_due(session, settings, now=start + timedelta(days=days))
        return result.warned, result.purged

    assert run(20) == ([], [])
    with app.factory() as session:
        states = {i.number: i.state for i in plan(session, settings, None, start + timedelta(days=24))}
    assert states == {alice: "warning", bob: "held"}
    assert run(24) == ([alice], [])
    # Due on day 30, but the warning was given on day 24: the purge waits the full 7 days.
    assert run(30.5) == ([], [])
    assert run(31.5) == ([], [alice])
    assert run(400) == ([], [])  # held: never warned, never purged

    with app.factory() as session:
        stub = session.scalars(select(Case).where(Case.number == alice)).one()
        assert (stub.outcome, stub.status.value, stub.purged_at is not None, stub.title) == \
            ("resolved-notice", "closed", True, "")
        assert stub.closed_at is not None and stub.opened_at is not None and stub.categories is not None
        stats = compute_stats(session)
    assert stats["cases"] == 2  # the stub still counts; its report is gone
    # Nothing identifying anywhere in the data folder (database, WAL, Maildir), while Bob's held
    # case is still all there.
    assert _traces(data, [ALICE, "reporter a", "bully-a@example.net", "purple giraffe", "giraffe telescope"]) == []
    assert _traces(data, [BOB, "orange kangaroo"])
    shown = json.loads(cli(config, "--as", "Pat", "cases", "show", alice, "--json"))
    assert ALICE not in json.dumps(shown) and "giraffe" not in json.dumps(shown)
    audit = cli(config, "--as", "Pat", "audit", alice, "--json")
    assert "retention-purged" in audit and ALICE not in audit and "giraffe" not in audit


def test_new_activity_restarts_the_clock_and_release_needs_admin(app: App) -> None:
    config = _configure(app)
    config.write_text(config.read_text() + '\n[[staff]]\nname = "Pat"\nroles = ["staff"]\n'
                      '\n[[staff]]\nname = "Ada"\nroles = ["staff", "admin"]\n')
    settings = load_settings(config)
    number = _open_and_close(app, config, ALICE, ALICE_WORDS, "a")
    start = datetime.now(UTC)
    with app.factory() as session, session.begin():
        assert run_due(session, settings, now=start + timedelta(days=24)).warned == [number]
    # Hold and release are activity; on the test's clock they happen on day 26.
    cli(config, "--as", "Pat", "cases", "hold", number, "--reason", "new evidence may come in")
    assert "'admin' role" in cli(config, "--as", "Pat", "cases", "release", number, "--reason", "no longer needed",
                                 ok=False)
    assert "'admin' role" in cli(config, "--as", "Pat", "retention", "run", ok=False)
    cli(config, "--as", "Ada", "cases", "release", number, "--reason", "counsel says it is over")
    with app.factory() as session, session.begin():
        session.execute(update(Event).where(Event.action.in_(("legal-hold", "legal-hold-released")))
                        .values(at=start + timedelta(days=26)))
    # The day-24 warning came before that activity: it no longer counts, and the case is due on day 56.
    with app.factory() as session, session.begin():
        assert run_due(session, settings, now=start + timedelta(days=32)) == RunResult()
        (item,) = plan(session, settings, None, start + timedelta(days=32))
        assert (item.state, item.warned_at, item.due_at.date()) == ("kept", None, (start + timedelta(days=56)).date())
        assert run_due(session, settings, now=start + timedelta(days=50)).warned == [number]
        assert run_due(session, settings, now=start + timedelta(days=56.5)).purged == []
        assert run_due(session, settings, now=start + timedelta(days=57.5)).purged == [number]


def test_retention_config_is_validated(app: App) -> None:
    config = app.settings.base_dir / "stopit.toml"
    config.write_text(config.read_text().replace(
        "closed_days = 0\nwarning_days = 14\n",
        'closed_days = -1\nwarning_days = 0\n[[organisations.retention.outcomes]]\noutcome = "nope"\ndays = 3\n'))
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    text = str(caught.value)
    assert "retention.closed_days" in text and "retention.warning_days" in text and "outcomes[0].outcome" in text


def test_purge_on_every_database(any_app: App) -> None:
    """The purge's deletes respect every foreign key, on SQLite and PostgreSQL alike."""
    config = _configure(any_app)
    settings = load_settings(config)
    number = _open_and_close(any_app, config, ALICE, ALICE_WORDS, "a")
    deliver_due(any_app.factory, settings)
    start = datetime.now(UTC)
    with any_app.factory() as session, session.begin():
        assert run_due(session, settings, now=start + timedelta(days=24)).warned == [number]
        assert run_due(session, settings, now=start + timedelta(days=32)).purged == [number]
    with any_app.factory() as session:
        case = session.scalars(select(Case).where(Case.number == number)).one()
        assert case.purged_at is not None and case.reports == [] and case.evidence == [] and case.parties == []
        texts = [e.detail for e in session.scalars(select(Event).where(Event.case_id == case.id))
                 if e.action != "retention-purged" and e.action != "retention-warning"]
        assert texts and all(detail == {} for detail in texts)
