"""Bad input gets a clear answer, never a crash: stored, then processed with defects or quarantined."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from stopit_mail.app import App
from stopit_mail.ingest.rawstore import Envelope
from stopit_mail.ingest.service import IngestSummary, ingest_one
from stopit_mail.models import Evidence, RawMessage, RawStatus
from stopit_mail.sealing import open_bytes

import hostile


def ingest_and_fetch(app: App, content: bytes) -> RawMessage:
    summary = IngestSummary()
    ingest_one(app, content, Envelope("file", source_ref="hostile"), summary)
    digest = hashlib.sha256(content).hexdigest()
    with app.factory() as session:
        rows = session.scalars(select(RawMessage).where(RawMessage.sha256 == digest)).all()
        assert len(rows) == 1
        assert open_bytes(app.settings, rows[0].content) == content  # sealed at rest until processed
        return rows[0]


@pytest.mark.parametrize("name", sorted(hostile.SMALL_CASES))
def test_hostile_message_is_stored_and_handled(app: App, name: str) -> None:
    raw = ingest_and_fetch(app, hostile.SMALL_CASES[name]())
    assert raw.status in (RawStatus.PROCESSED, RawStatus.QUARANTINED)
    if raw.status is RawStatus.QUARANTINED:
        assert raw.reason and ":" in raw.reason  # names the handler and the cause


def test_defects_are_recorded(app: App) -> None:
    raw = ingest_and_fetch(app, hostile.nul_bytes())
    assert "NulByte" in raw.defects
    raw = ingest_and_fetch(app, hostile.lying_charset())
    assert any(d.startswith("CharsetMismatch") for d in raw.defects)
    raw = ingest_and_fetch(app, hostile.deep_multipart(100))
    assert raw.status is RawStatus.PROCESSED
    assert any(d.startswith("NestingTooDeep") for d in raw.defects)


def test_zip_bomb_is_kept_compressed_and_flagged(app: App) -> None:
    raw = ingest_and_fetch(app, hostile.zip_bomb())
    assert raw.status is RawStatus.PROCESSED
    with app.factory() as session:
        item = session.scalars(select(Evidence).where(Evidence.filename == "photos.zip")).one()
        assert item.size < 2 * 1024 * 1024  # the compressed bytes, never expanded
        assert "archive: kept as is, not expanded" in item.problems


def test_fifty_megabyte_attachment(app: App) -> None:
    raw = ingest_and_fetch(app, hostile.big_attachment(50))
    assert raw.status is RawStatus.PROCESSED
    with app.factory() as session:
        item = session.scalars(select(Evidence).where(Evidence.filename == "clip.mp4")).one()
        assert item.size == 50 * 1024 * 1024 and len(item.sha256 or "") == 64


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise_and_are_stored_once(app: App, content: bytes) -> None:
    with app.factory() as session:
        before = session.scalar(select(func.count(RawMessage.id)))
    raw = ingest_and_fetch(app, content)
    with app.factory() as session:
        after = session.scalar(select(func.count(RawMessage.id)))
    assert after - before in (0, 1)
    assert raw.status in (RawStatus.PROCESSED, RawStatus.QUARANTINED)


_HEADER_NAMES = st.sampled_from(["From", "To", "Cc", "Subject", "Date", "Message-ID", "Content-Type",
                                 "Content-Transfer-Encoding", "Content-Disposition", "References", "X-Junk"])
_CONTENT_TYPES = st.sampled_from(["text/plain", "text/html", "message/rfc822", "image/png",
                                  "application/octet-stream", "multipart/mixed", "multipart/alternative",
                                  "text/plain; charset=x-unknown", "text/plain; charset=utf-16"])
_ENCODINGS = st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary"])


def _leaf() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda ctype, enc, body: f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: {enc}\r\n\r\n".encode() + body,
        _CONTENT_TYPES, _ENCODINGS, st.binary(max_size=200),
    )


def _container(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    def build(boundary: str, parts: list[bytes], close: bool, rfc822: bool) -> bytes:
        if rfc822 and parts:
            return b"Content-Type: message/rfc822\r\n\r\nFrom: inner@example.org\r\n" + parts[0]
        body = b"".join(f"--{boundary}\r\n".encode() + p + b"\r\n" for p in parts)
        if close:
            body += f"--{boundary}--\r\n".encode()
        return f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode() + body

    return st.builds(build, st.text("abcxyz019'()+_,-./:=? ", min_size=0, max_size=12),
                     st.lists(children, max_size=4), st.booleans(), st.booleans())


_TREES = st.recursive(_leaf(), _container, max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=_TREES, extra=st.lists(st.tuples(_HEADER_NAMES, st.text(max_size=60)), max_size=5))
def test_arbitrary_mime_trees_never_raise(app: App, tree: bytes, extra: list[tuple[str, str]]) -> None:
    top = "".join(f"{name}: {value}\r\n" for name, value in extra).encode("utf-8", "surrogateescape")
    content = b"From: someone@example.org\r\nMIME-Version: 1.0\r\n" + top + tree
    raw = ingest_and_fetch(app, content)
    assert raw.status in (RawStatus.PROCESSED, RawStatus.QUARANTINED)


def test_a_message_that_begins_with_the_seal_marker_is_told_from_sealed_bytes(app: App) -> None:
    """Any sender can begin a message, or an attachment, with the marker sealed bytes begin with
    (hypothesis found the message `STOPIT-SEALED-1\\n`): once processed, a reader opening the
    stored bytes must get them back as received, not fail to open them as sealed."""
    from stopit_mail.sealing import BYTES_MAGIC

    bare = ingest_and_fetch(app, BYTES_MAGIC)
    assert bare.status in (RawStatus.PROCESSED, RawStatus.QUARANTINED)
    attachment = BYTES_MAGIC + b"not sealed at all"
    report = (b"From: Robin <robin@example.org>\r\nTo: stopit@example.edu\r\nSubject: Fwd: look\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
              b"Content-Type: text/plain\r\n\r\nHe keeps sending me this file.\r\n--b\r\n"
              b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=x.bin\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(attachment) + b"\r\n--b--\r\n")
    raw = ingest_and_fetch(app, report)
    assert raw.status is RawStatus.PROCESSED
    with app.factory() as session:
        stored = session.scalars(select(Evidence.content).where(Evidence.case_id == raw.case_id,
                                                                Evidence.filename == "x.bin")).all()
    files = [open_bytes(app.settings, content) for content in stored]
    assert files == [attachment]
