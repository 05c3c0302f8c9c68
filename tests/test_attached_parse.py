"""An attached original is read from the report's one parse, never parsed again (issue 8), and its
fields are exactly what parsing its sliced bytes gives, in the shapes where the two could differ."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stopit_mail.extract import evidence, mime
from stopit_mail.extract.mime import MAX_FOLD_LINES

from conftest import corpus_or_skip

ORIGINAL = (b"Received: from relay.example.net (relay.example.net [203.0.113.9])\r\n"
            b"\tby mx.example.org with ESMTPS id 1; Mon, 16 Nov 2026 04:40:00 +0000\r\n"
            b"From: Mallory <mallory@example.net>\r\nTo: Victim <victim@example.edu>, b@example.edu\r\n"
            b"Cc: c@example.edu\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nDate: Mon, 16 Nov 2026 04:41:03 +0000\r\n"
            b"Message-ID: <orig-1@example.net>\r\n\r\nYou should leave this school.\r\nNobody wants you.\r\n")


def report(part_headers: bytes, original: bytes, tail: bytes = b"") -> bytes:
    return (b"From: Student <student@example.edu>\r\nTo: stopit@example.edu\r\nSubject: Fwd: this\r\n"
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe original is attached.\r\n"
            b"--b1\r\n" + part_headers + b"\r\n" + original + b"\r\n" + tail + b"--b1--\r\n")


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The bytes of every `mime.parse_bytes` call made while extracting."""
    seen: list[bytes] = []
    real = mime.parse_bytes

    def counted(content: bytes) -> mime.ParsedMessage:
        seen.append(content)
        return real(content)

    monkeypatch.setattr(mime, "parse_bytes", counted)
    yield seen


def extract(raw: bytes) -> evidence.Extraction:
    """As the pipeline calls it: with the report already parsed (and its body decoded)."""
    parsed = mime.parse_bytes(raw)
    return evidence.extract_evidence(raw, parsed=parsed)


def fields(items: list[evidence.EvidenceItem]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(item) for item in items]


def reparsed(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The items when every attached original is parsed from its slice (the code before issue 8)."""
    with monkeypatch.context() as patch:
        patch.setattr(evidence, "parse_original", lambda slc, _originals: mime.parse_bytes(slc.bytes))
        return fields(evidence.extract_evidence(raw).items)


def test_attached_original_is_not_parsed_again(parses: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    raw = report(b"Content-Type: message/rfc822\r\n", ORIGINAL)
    parses.clear()
    found = extract(raw)
    [item] = found.items
    assert parses == [raw]  # the report's own parse only
    assert (item.kind, item.from_address, item.subject, item.message_id) == (
        "attached-message", "mallory@example.net", "Grüße", "<orig-1@example.net>")
    assert item.to == [["Victim", "victim@example.edu"], ["", "b@example.edu"]]
    assert item.cc == [["", "c@example.edu"]]
    assert item.body_text == "You should leave this school.\nNobody wants you.\n"
    assert item.content == ORIGINAL  # still the exact bytes, for DKIM
    assert item.header_block is not None and item.header_block.startswith("Received: from relay.example.net")
    assert fields(found.items) == reparsed(raw, monkeypatch)


@pytest.mark.parametrize("shape", ["base64", "eml-file", "hostile-folding", "unix-from", "nul-byte"])
def test_originals_the_report_parse_read_differently_are_parsed_from_their_bytes(
        shape: str, parses: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    headers, original, tail = b"Content-Type: message/rfc822\r\n", ORIGINAL, b""
    if shape == "base64":  # the email package reads the base64 text as the message
        headers += b"Content-Transfer-Encoding: base64\r\n"
        original = base64.encodebytes(ORIGINAL).replace(b"\n", b"\r\n").rstrip()
    elif shape == "eml-file":  # an .eml file is a leaf to the email package
        headers = b'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="x.eml"\r\n'
    elif shape == "hostile-folding":  # the report's parsed copy is not its bytes
        tail = (b"--b1\r\nContent-Type: text/plain\r\nX-Long: a\r\n" + b"\tb\r\n" * (MAX_FOLD_LINES + 5)
                + b"\r\nfiller\r\n")
    elif shape == "unix-from":
        original = b"From mallory@example.net Mon Nov 16 04:41:03 2026\r\n" + ORIGINAL
    raw = report(headers, original, tail)
    if shape == "nul-byte":
        raw = raw.replace(b"Nobody", b"No\x00body")
    parses.clear()
    found = extract(raw)
    item = next(i for i in found.items if i.completeness.value == "full")
    assert item.from_address == "mallory@example.net" and item.subject == "Grüße"
    parsed_again = len(parses) > 1
    assert parsed_again is (shape != "nul-byte")
    assert fields(found.items) == reparsed(raw, monkeypatch)
    if shape == "nul-byte":
        assert "NulByte" in item.problems


def test_nested_multipart_original_keeps_its_defects(parses: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """A multipart original whose start boundary is missing: the defects the parser gives the
    message it parses last (`MultipartInvariantViolationDefect`) are still reported."""
    original = (b"From: m@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
                b'Content-Type: multipart/alternative; boundary="zz"\r\n\r\nno boundary here\r\n')
    raw = report(b"Content-Type: message/rfc822\r\n", original)
    parses.clear()
    found = extract(raw)
    assert parses == [raw]
    item = next(i for i in found.items if i.kind == "attached-message")
    assert "MultipartInvariantViolationDefect" in item.problems
    assert fields(found.items) == reparsed(raw, monkeypatch)


def _messages(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".json", ".md", ".txt_expected"))


def test_corpus_originals_read_from_the_report_parse_equal_their_own_parse(
        parses: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every real report with attached originals (ARF reports, bounces, digests, torture tests):
    the same evidence as parsing each original's bytes, and most originals are not parsed again."""
    reused = total = 0
    for path in _messages(corpus_or_skip("rfc822")):
        raw = path.read_bytes()
        parses.clear()
        found = evidence.extract_evidence(raw)
        full = [i for i in found.items if i.kind.startswith("attached")]
        if not full:
            continue
        total += len(full)
        reused += len(full) - sum(1 for content in parses if any(content == i.content for i in full))
        assert fields(found.items) == reparsed(raw, monkeypatch), path
    assert total > 100 and reused > total // 2
