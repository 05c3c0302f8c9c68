"""Header reading is linear: a header folded into a million lines must not stall intake.

Before, one field folded into 1.3 million lines in a 5 MB report took 7 min 43 s; every reader
(Received, Authentication-Results, DKIM and ARC through dkimpy, the evidence extractor) grew
the field a line at a time. The readers are also compared with plain reference versions on
generated messages, so the fast ones read exactly what the slow ones did.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.headers.analysis import HeaderPolicy, analyse
from stopit_mail.headers.dns import OfflineResolver
from stopit_mail.headers.fields import dkimpy_parse, read_header_fields

POLICY = HeaderPolicy(None, (), timedelta(minutes=5), OfflineResolver())
RECEIVED = (b"Received: from mail.granigo.example (mail.granigo.example [80.96.157.210])\r\n"
            b"\tby mx.example.edu with ESMTPS id 4Xk2; Mon, 1 Jan 2024 10:00:00 +0000\r\n")


def folded(name: bytes, lines: int) -> bytes:
    """One field of about 5 bytes a line, folded ``lines`` times."""
    return name + b": start\r\n" + b" x1234\r\n" * lines


def report_with(original: bytes) -> bytes:
    return (b"From: Reporter <r@example.edu>\r\nTo: stopit@example.edu\r\nSubject: look at this\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nSee the attached message.\r\n"
            b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + original + b"\r\n--b--\r\n")


@pytest.mark.parametrize("name", [b"Received", b"Authentication-Results", b"DKIM-Signature", b"From"])
@pytest.mark.serial  # timed: another test on the other core would skew it
def test_a_report_with_a_header_folded_into_a_million_lines_is_analysed_in_seconds(name: bytes) -> None:
    original = (RECEIVED + b"From: Offender <o@granigo.example>\r\nTo: v@example.edu\r\nSubject: hi\r\n"
                + folded(name, 1_000_000) + b"\r\nthe body\r\n")
    report = report_with(original)
    assert len(report) > 5_000_000
    started = time.perf_counter()
    extraction = extract_evidence(report)
    analyses = [analyse(item.content, POLICY) for item in extraction.items if item.content]
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"{elapsed:.1f} s"
    assert len(analyses) == 1 and extraction.items[0].from_address == "o@granigo.example"
    trace = analyses[0]["trace"]
    # The real hop is still read, whatever the hostile field was.
    assert any(hop["from_ip"] == "80.96.157.210" for hop in trace["hops"])
    if name == b"Received":
        assert any("only the start was read" in " ".join(hop["warnings"]) for hop in trace["hops"])
    if name != b"From":
        assert analyses[0]["auth"]["from_domains"] == ["granigo.example"]


@pytest.mark.serial  # timed: another test on the other core would skew it
def test_a_50_mb_header_is_refused_for_verification_with_a_reason_in_seconds() -> None:
    message = RECEIVED + b"From: o@granigo.example\r\n" + folded(b"X-Junk", 10_000_000) + b"\r\nbody\r\n"
    started = time.perf_counter()
    analysis = analyse(message, POLICY)
    assert time.perf_counter() - started < 10
    assert any("header section longer than 8 MiB" in p for p in analysis["auth"]["problems"])
    assert analysis["trace"]["hops"][0]["from_ip"] == "80.96.157.210"


# dkimpy's own parser is the reference for ours: the same values (signatures depend on every
# byte) and the same failures.
LINES = st.lists(st.sampled_from([
    b"A: x", b"B:y", b" cont", b"\tc2", b"From a b", b"", b"bad line", b"C: z\r", b"\r", b"D:",
    b"x:y:z", b"From:q", b"E: caf\xe9", b"   "]), max_size=10)
ENDS = st.lists(st.sampled_from([b"\r\n", b"\n", b"\r\r\n", b"\r"]), min_size=10, max_size=10)


def _joined(lines: list[bytes], ends: list[bytes], cut: bool) -> bytes:
    out = b"".join(line + end for line, end in zip(lines, ends, strict=False))
    return out[:-1] if cut and out else out


def _outcome(parse, message: bytes) -> object:  # type: ignore[no-untyped-def]
    try:
        return parse(message)
    except Exception as exc:  # noqa: BLE001 - the kind of failure is what is compared
        return type(exc).__name__


@settings(max_examples=400, deadline=None)
@given(LINES, ENDS, st.booleans())
def test_the_linear_dkimpy_parse_matches_dkimpy(lines: list[bytes], ends: list[bytes], cut: bool) -> None:
    message = _joined(lines, ends, cut)
    assert _outcome(dkimpy_parse, message) == _outcome(dkim.rfc822_parse, message)


_REFERENCE_FIELD = re.compile(r"^([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)$", re.S)


def reference_fields(raw: bytes) -> list[tuple[str, str]]:
    """The reader as it was written before (a line at a time), the reference for the fast one."""
    fields: list[list[str]] = []
    for line_bytes in re.split(rb"\r\n|\n|\r", raw):
        line_bytes = line_bytes.replace(b"\x00", b"")
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError:
            line = line_bytes.decode("latin-1")
        if not line.strip():
            if not fields:
                continue
            break
        if not fields and line.startswith("From "):
            continue
        match = _REFERENCE_FIELD.match(line)
        if line[0] in " \t" or not match:
            if fields:
                fields[-1][1] += "\n" + line
            continue
        fields.append([match.group(1), match.group(2).lstrip(" \t")])
    return [(name, value) for name, value in fields]


@settings(max_examples=400, deadline=None)
@given(LINES, ENDS, st.booleans())
def test_the_linear_field_reader_matches_the_line_by_line_one(lines: list[bytes], ends: list[bytes],
                                                               cut: bool) -> None:
    message = _joined(lines, ends, cut)
    assert read_header_fields(message) == reference_fields(message)
