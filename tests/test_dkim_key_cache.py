"""dkimpy reads a DKIM key once per process, not once per signature it checks (issue 8)."""

from __future__ import annotations

import base64
import functools
from datetime import UTC, datetime

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from dkim.canonicalization import Relaxed

from stopit_mail.headers import dkimkeys
from stopit_mail.headers.dkim_verify import verify_dkim
from stopit_mail.headers.dns import StaticResolver

BODY = b"From: m@example.net\r\nTo: v@example.edu\r\nSubject: hi\r\n\r\nYou again.\r\n"


def test_a_key_signing_many_messages_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption())
    der = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    resolver = StaticResolver({"sel._domainkey.example.net": "v=DKIM1; p=" + base64.b64encode(der).decode()})
    read: list[bytes] = []
    real = dkimkeys._DKIMPY_EVALUATE_PK
    monkeypatch.setattr(dkimkeys, "_evaluated", functools.lru_cache(maxsize=4)(
        lambda name, record: read.append(record) or real(name, record)))
    now = datetime.now(UTC)
    for number in range(3):
        body = BODY.replace(b"again", b"again %d" % number)
        message = dkim.sign(body, b"sel", b"example.net", pem, include_headers=[b"from", b"subject"]) + body
        assert [r.verdict for r in verify_dkim(message, resolver, now)] == ["pass"]
        tampered = message.replace(b"You again", b"You there")
        assert [r.verdict for r in verify_dkim(tampered, resolver, now)] == ["fail"]
    assert len(read) == 1  # dkimpy's own parse of the key, for six verifications


def test_the_remembered_key_is_dkimpys_and_a_bad_record_still_raises() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; p=" + base64.b64encode(der)
    first = dkimkeys.evaluate_pk(b"sel._domainkey.example.net.", record)
    assert first == dkimkeys._DKIMPY_EVALUATE_PK(b"sel._domainkey.example.net.", record)
    first[0]["modulus"] = 7  # a caller changing its copy does not change the remembered key
    assert dkimkeys.evaluate_pk(b"sel._domainkey.example.net.", record)[0]["modulus"] == \
        private.public_key().public_numbers().n
    for _ in range(2):
        with pytest.raises(dkim.KeyFormatError):
            dkimkeys.evaluate_pk(b"sel._domainkey.example.net.", b"v=DKIM1; p=bm90IGEga2V5")
    assert dkim.evaluate_pk is dkimkeys.evaluate_pk  # installed for dkimpy's verifiers


def test_only_the_signed_fields_are_canonicalised_and_an_added_from_still_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption())
    der = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    resolver = StaticResolver({"sel._domainkey.example.net": "v=DKIM1; p=" + base64.b64encode(der).decode()})
    signed = dkim.sign(BODY, b"sel", b"example.net", pem, include_headers=[b"from", b"subject"]) + BODY
    message = b"Received: from a (a [192.0.2.1])\r\n\tby b; Mon, 16 Nov 2026 04:41:03 +0000\r\n" * 4 + signed
    seen: list[bytes] = []
    real = Relaxed.canonicalize_headers
    monkeypatch.setattr(Relaxed, "canonicalize_headers",
                        staticmethod(lambda headers: seen.extend(h[0] for h in headers) or real(headers)))
    now = datetime.now(UTC)
    assert [r.verdict for r in verify_dkim(message, resolver, now)] == ["pass"]
    assert b"Received" not in seen and b"From" in seen and b"Subject" in seen
    # Every field of a signed name is still handed over: a From added above the signed one fails.
    added = message.replace(b"From: m@example.net", b"From: boss@example.edu\r\nFrom: m@example.net")
    assert [r.verdict for r in verify_dkim(added, resolver, now)] == ["fail"]
