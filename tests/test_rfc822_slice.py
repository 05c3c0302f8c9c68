"""Attached originals are cut out of a report byte for byte, so their DKIM still verifies.

The central tests sign a message with a key generated here, forward it as an
attachment the way real clients do (base64-encoded, or 8bit with an 8-bit body
and simple/simple canonicalisation), slice it back out and verify it; the same
message re-serialised by the email package fails, which is why slicing exists.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import logging
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopit_mail.extract.rfc822_slice import AttachedOriginal, slice_attached_messages
from stopit_mail.headers.auth import verify_dkim
from stopit_mail.headers.dns import StaticResolver

from conftest import CORPUS

KEY_NAME = "sel._domainkey.example.com"
ORIGINAL = ("From: Mallory <mallory@example.com>\r\n"
            "To: victim@example.org\r\n"
            "Subject: Grüße an dich, ich weiß genau wo du wohnst und was du jeden Tag machst\r\n"
            "Date: Mon, 06 Jan 2025 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n"
            "\r\n"
            "Ich weiß, wo du wohnst.  \r\n"
            "Schöne Grüße\r\n").encode()


@pytest.fixture(scope="module")
def signer() -> tuple[bytes, StaticResolver]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption())
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return pem, StaticResolver({KEY_NAME: "v=DKIM1; p=" + base64.b64encode(der).decode()})


def signed(pem: bytes, canonicalize: tuple[bytes, bytes] = (b"simple", b"simple")) -> bytes:
    header = dkim.sign(ORIGINAL, b"sel", b"example.com", pem, canonicalize=canonicalize,
                       include_headers=[b"from", b"to", b"subject", b"date", b"content-type"])
    return header + ORIGINAL


def report(attachment_headers: bytes, payload: bytes, nl: bytes = b"\r\n") -> bytes:
    """A forwarding email: a note, then the attachment, in multipart/mixed."""
    lines = [b"From: victim@example.org", b"To: report@stopit.example", b"Subject: Fwd: this",
             b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="=-OUTER-="', b"",
             b"This is a multi-part message in MIME format.", b"--=-OUTER-=",
             b"Content-Type: text/plain; charset=utf-8", b"", b"Please look at this.",
             b"--=-OUTER-="]
    head = nl.join(lines) + nl + attachment_headers.replace(b"\r\n", nl) + nl
    return head + payload + nl + b"--=-OUTER-=--" + nl


def base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


def only(raw: bytes, **kw: int) -> AttachedOriginal:
    [found] = slice_attached_messages(raw, **kw)
    return found


# --- the forwards that matter ------------------------------------------------------------------

def test_base64_encoded_forward_slices_back_to_the_signed_bytes(
        signer: tuple[bytes, StaticResolver]) -> None:
    pem, resolver = signer
    original = signed(pem, (b"relaxed", b"simple"))
    raw = report(b'Content-Type: message/rfc822; name="original.eml"\r\n'
                 b'Content-Disposition: attachment; filename="original.eml"\r\n'
                 b"Content-Transfer-Encoding: base64\r\n", base64_lines(original))
    found = only(raw)
    assert found.bytes == original
    assert (found.path, found.depth, found.content_type, found.filename,
            found.transfer_encoding, found.problems) == (
        "2", 1, "message/rfc822", "original.eml", "base64", [])
    assert verify_dkim(found.bytes, resolver)[0].verdict == "pass"


def test_8bit_simple_forward_verifies_and_email_reserialisation_does_not(
        signer: tuple[bytes, StaticResolver]) -> None:
    pem, resolver = signer
    original = signed(pem)
    raw = report(b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n", original)
    found = only(raw)
    assert found.bytes == original and found.transfer_encoding == "8bit"
    assert verify_dkim(found.bytes, resolver)[0].verdict == "pass"

    # What a naive pipeline would do instead: parse the report and write the part out again.
    modern = email.message_from_bytes(raw, policy=email.policy.default)
    rewritten = modern.get_payload()[1].get_payload(0).as_bytes()  # type: ignore[index,union-attr]
    header_check = verify_dkim(rewritten, resolver)[0]
    assert header_check.verdict == "fail"  # the long 8-bit Subject was refolded and encoded
    legacy = email.message_from_bytes(raw)
    text = legacy.get_payload()[1].get_payload(0).as_string()  # type: ignore[index,union-attr]
    body_check = verify_dkim(text.encode("utf-8", "replace"), resolver)[0]
    assert (body_check.verdict, body_check.reason.split(":")[0]) == ("fail", "body hash mismatch")


def test_lf_only_report_keeps_the_line_break_with_the_delimiter() -> None:
    original = ORIGINAL.replace(b"\r\n", b"\n")
    raw = report(b"Content-Type: message/rfc822\n", original, nl=b"\n")
    assert only(raw).bytes == original


def test_eml_sent_as_octet_stream_is_found(signer: tuple[bytes, StaticResolver]) -> None:
    original = signed(signer[0])
    raw = report(b'Content-Type: application/octet-stream; name="Message.eml"\r\n'
                 b'Content-Disposition: attachment; filename="Message.eml"\r\n'
                 b"Content-Transfer-Encoding: base64\r\n", base64_lines(original))
    found = only(raw)
    assert (found.bytes, found.content_type, found.filename) == (
        original, "application/octet-stream", "Message.eml")
    assert verify_dkim(found.bytes, signer[1])[0].verdict == "pass"


def test_octet_stream_is_sniffed_for_message_headers() -> None:
    headers = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
    assert only(report(headers, base64_lines(ORIGINAL))).bytes == ORIGINAL
    pdf = b"%PDF-1.4\r\n1 0 obj\r\n<< /Type /Catalog >>\r\nendobj\r\n"
    assert slice_attached_messages(report(headers, base64_lines(pdf))) == []


def test_quoted_printable_attachment_is_decoded() -> None:
    encoded = ORIGINAL.replace("ß".encode(), b"=C3=9F").replace("ü".encode(), b"=C3=BC")
    encoded = encoded.replace("ö".encode(), b"=C3=B6")
    raw = report(b"Content-Type: message/rfc822\r\n"
                 b"Content-Transfer-Encoding: quoted-printable\r\n", encoded)
    assert only(raw).bytes == ORIGINAL


# --- MIME structure -------------------------------------------------------------------------

def test_nested_originals_get_paths_and_depths() -> None:
    inner = (b"From: a@example.com\r\nSubject: inner\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/mixed; boundary="in"\r\n\r\n'
             b"--in\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
             b"--in\r\nContent-Type: message/rfc822\r\n\r\n" + ORIGINAL + b"\r\n--in--\r\n")
    found = slice_attached_messages(report(b"Content-Type: message/rfc822\r\n", inner))
    assert [(f.path, f.depth) for f in found] == [("2", 1), ("2.2", 2)]
    assert found[0].bytes == inner and found[1].bytes == ORIGINAL


def test_digest_parts_default_to_message_rfc822() -> None:
    raw = (b'Content-Type: multipart/digest; boundary="d"\r\n\r\n'
           b"--d\r\n\r\n" + ORIGINAL + b"\r\n--d\r\n\r\n" + ORIGINAL + b"\r\n--d--\r\n")
    assert [(f.path, f.bytes) for f in slice_attached_messages(raw)] == [
        ("1", ORIGINAL), ("2", ORIGINAL)]


def test_delimiters_need_a_line_of_their_own() -> None:
    body = ORIGINAL + b"quoted: --=-OUTER-= is not a delimiter\r\n--=-OUTER-=X neither\r\n"
    raw = report(b"Content-Type: message/rfc822\r\n", body).replace(
        b"--=-OUTER-=--\r\n", b"--=-OUTER-=--  \r\n")  # transport padding is allowed
    assert only(raw).bytes == body


def test_missing_closing_boundary_is_a_problem_not_a_loss() -> None:
    raw = report(b"Content-Type: message/rfc822\r\n", ORIGINAL).replace(b"--=-OUTER-=--\r\n", b"")
    found = only(raw)
    assert found.bytes.startswith(ORIGINAL)
    assert any("closing boundary" in p for p in found.problems)


def test_depth_is_limited() -> None:
    message = ORIGINAL
    for level in range(30):
        message = (f"From: f{level}@example.com\r\nContent-Type: message/rfc822\r\n\r\n".encode()
                   + message)
    assert [f.depth for f in slice_attached_messages(message, max_depth=3)] == [1, 2, 3]
    assert len(slice_attached_messages(message)) == 10
    assert slice_attached_messages(message, max_depth=0) == []


def test_multipart_nesting_bomb_is_bounded() -> None:
    raw = b""
    for level in range(500):
        raw = (f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'
               .encode() + raw + f"\r\n--b{level}--\r\n".encode())
    assert slice_attached_messages(raw) == []


# --- the shared corpus: real reports, bounces and torture tests ----------------------------

def _corpus_files() -> list[Path]:
    root = CORPUS / "rfc822"
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".json")


@pytest.mark.skipif(not (CORPUS / "rfc822").is_dir(), reason="shared corpus not present")
def test_corpus_attachments_match_the_email_package_count() -> None:
    for path in _corpus_files():
        raw = path.read_bytes()
        expected = sum(1 for part in email.message_from_bytes(raw).walk()
                       if part.get_content_type() in ("message/rfc822", "message/global"))
        found = slice_attached_messages(raw)
        assert len(found) == expected, path
        for item in found:
            if item.transfer_encoding in ("7bit", "8bit", "binary") and item.depth == 1:
                assert item.bytes in raw, (path, item.path)


@pytest.mark.skipif(not (CORPUS / "rfc822").is_dir(), reason="shared corpus not present")
def test_corpus_base64_message_part_is_decoded() -> None:
    raw = (CORPUS / "rfc822" / "discourse" / "attached_eml_file.eml").read_bytes()
    found = only(raw)
    assert found.transfer_encoding == "base64" and found.filename == "sample.eml"
    assert b"Subject:" in found.bytes.split(b"\n\n")[0] + found.bytes.split(b"\r\n\r\n")[0]


# --- never raise -------------------------------------------------------------------------

_PIECES = st.sampled_from([
    b"Content-Type: multipart/mixed; boundary=b\r\n", b"Content-Type: message/rfc822\r\n",
    b"Content-Type: application/octet-stream; name=x.eml\r\n",
    b"Content-Type: multipart/digest; boundary=\"b\"\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n", b"--b\r\n", b"--b--\r\n", b"--b", b"\r\n",
    b"\n", b"From: a@b\r\n", b"Subject: s\r\n", b"QUFBQQ==\r\n", b"=3D=\r\n", b"\x00\xff\xfe",
    b" folded\r\n", b"boundary=\"\"\r\n"])


class _Errors(logging.Handler):
    """Collects the errors the slicer logs when it survives a bug of its own."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> _Errors:
        logging.getLogger("stopit_mail.extract.rfc822_slice").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("stopit_mail.extract.rfc822_slice").removeHandler(self)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=40))
def test_mime_shaped_noise_never_raises(pieces: list[bytes]) -> None:
    with _Errors() as errors:
        for found in slice_attached_messages(b"".join(pieces)):
            assert 1 <= found.depth <= 10
            json.dumps(found.problems)
    assert not errors.records


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=-1, max_value=12))
def test_arbitrary_bytes_never_raise(raw: bytes, depth: int) -> None:
    with _Errors() as errors:
        assert isinstance(slice_attached_messages(raw, max_depth=depth), list)
    assert not errors.records
