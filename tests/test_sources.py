"""Import sources: .eml files, mbox, Maildir, folders; re-importing changes nothing."""

from __future__ import annotations

import mailbox
from pathlib import Path

from sqlalchemy import func, select

from stopit_mail.app import App
from stopit_mail.ingest.service import ingest_paths
from stopit_mail.ingest.sources import iter_path
from stopit_mail.models import Case, RawMessage

from conftest import EXAMPLES


def _mbox_of_examples(path: Path) -> Path:
    box = mailbox.mbox(str(path))
    for eml in sorted(EXAMPLES.glob("*.eml")):
        box.add(mailbox.mboxMessage(eml.read_bytes()))
    box.flush()
    box.close()
    return path


def test_reingesting_the_same_mbox_gives_the_same_cases(app: App, tmp_path: Path) -> None:
    mbox = _mbox_of_examples(tmp_path / "reports.mbox")
    first = ingest_paths(app, [str(mbox)])
    with app.factory() as session:
        cases_after_first = session.scalar(select(func.count(Case.id)))
    second = ingest_paths(app, [str(mbox)])
    with app.factory() as session:
        assert session.scalar(select(func.count(Case.id))) == cases_after_first == 3
        sources = set(session.scalars(select(RawMessage.source)))
    assert (first.stored, second.stored, second.duplicates) == (3, 0, 3)
    assert sources == {"mbox"}


def test_maildir_and_plain_folders(app: App, tmp_path: Path) -> None:
    maildir = mailbox.Maildir(str(tmp_path / "Maildir"))
    for eml in sorted(EXAMPLES.glob("*.eml")):
        maildir.add(eml.read_bytes())
    items = list(iter_path(str(tmp_path / "Maildir")))
    assert len(items) == 3 and {env.source for _, env in items} == {"maildir"}
    assert {c for c, _ in items} == {p.read_bytes() for p in EXAMPLES.glob("*.eml")}
    folder_items = list(iter_path(str(EXAMPLES)))
    assert [env.source for _, env in folder_items] == ["file"] * 3


def test_missing_path_is_reported_not_fatal(app: App, tmp_path: Path) -> None:
    summary = ingest_paths(app, [str(tmp_path / "nope.eml"), str(EXAMPLES / "02-inline-forward.eml")])
    assert summary.stored == 1
    assert summary.errors == [f"{tmp_path / 'nope.eml'}: no such file or folder"]
