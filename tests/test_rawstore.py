"""The raw store: byte-exact, committed before anything else, stored once per content."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text

from stopit_mail.app import App
from stopit_mail.errors import MessageTooLarge
from stopit_mail.ingest.rawstore import Envelope, sha256_hex, store_raw
from stopit_mail.models import RawMessage, RawStatus

MESSAGE = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody \xff\x00 bytes\r\n"


def test_store_is_byte_exact_and_visible_to_another_connection(any_app: App) -> None:
    envelope = Envelope("smtp", mail_from="a@example.org", rcpt_to=["stopit@example.edu"], peer="127.0.0.1")
    result = store_raw(any_app.factory, MESSAGE, envelope)
    assert result.created
    # A separate engine proves the row is committed, not just flushed in our session.
    other = create_engine(any_app.engine.url.render_as_string(hide_password=False))
    with other.connect() as conn:
        row = conn.execute(text("SELECT content, sha256, size, status, source, peer FROM raw_messages")).one()
    other.dispose()
    assert bytes(row.content) == MESSAGE
    assert row.sha256 == sha256_hex(MESSAGE) and row.size == len(MESSAGE)
    assert row.status == "received" and row.source == "smtp" and row.peer == "127.0.0.1"


def test_same_bytes_are_stored_once(any_app: App) -> None:
    first = store_raw(any_app.factory, MESSAGE, Envelope("file", source_ref="a.eml"))
    second = store_raw(any_app.factory, MESSAGE, Envelope("mbox", source_ref="b.mbox#0"))
    assert (second.raw_id, second.created) == (first.raw_id, False)
    with any_app.factory() as session:
        assert session.scalar(select(RawMessage).where(RawMessage.id == first.raw_id)).status is RawStatus.RECEIVED
        assert len(session.scalars(select(RawMessage)).all()) == 1


def test_limit_is_enforced_before_storing(any_app: App) -> None:
    with pytest.raises(MessageTooLarge):
        store_raw(any_app.factory, MESSAGE, Envelope("smtp"), max_bytes=10)
    with any_app.factory() as session:
        assert session.scalars(select(RawMessage)).all() == []


def test_unknown_source_is_a_programming_error(app: App) -> None:
    with pytest.raises(ValueError):
        store_raw(app.factory, MESSAGE, Envelope("carrier-pigeon"))


def test_sqlite_runs_in_wal_with_full_sync(app: App) -> None:
    with app.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
