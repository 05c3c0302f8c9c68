"""DKIM's RSA check done by OpenSSL gives dkimpy's answer on every kind of signature (issue 8).

`stopit_mail.headers.dkim_rsa` replaces dkimpy's pure-Python check for speed; each case below is
answered by both and must agree: a good signature, a tampered one, another key's, a short one (a
signer that dropped a leading zero byte), one whose value is at or above the modulus (which
dkimpy reduces and OpenSSL refuses), a digest too large for a small key, and SHA-1.
"""

from __future__ import annotations

import hashlib

import dkim
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.crypto import DigestTooLargeError

from stopit_mail.headers import dkim_rsa

_DKIMPY = dkim_rsa._DKIMPY_VERIFY


def _key(bits: int = 2048) -> tuple[rsa.RSAPrivateKey, dict[str, int]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    numbers = private.public_key().public_numbers()
    return private, {"modulus": numbers.n, "publicExponent": numbers.e}


def _sign(private: rsa.RSAPrivateKey, digest: bytes) -> bytes:
    return private.sign(digest, PKCS1v15(), Prehashed(hashes.SHA256()))


def _both(hasher: object, signature: bytes, public: dict[str, int]) -> tuple[bool, bool]:
    return bool(dkim_rsa.verify(hasher, signature, public)), bool(_DKIMPY(hasher, signature, public))


def test_openssl_and_dkimpy_agree_on_every_kind_of_signature() -> None:
    private, public = _key()
    _other, other_public = _key()
    hasher = hashlib.sha256(b"the signed headers")
    good = _sign(private, hasher.digest())
    assert _both(hasher, good, public) == (True, True)
    assert _both(hasher, good, other_public) == (False, False)
    tampered = bytes([good[0] ^ 1]) + good[1:]
    assert _both(hasher, tampered, public) == (False, False)
    assert _both(hashlib.sha256(b"other headers"), good, public) == (False, False)
    # At or above the modulus: dkimpy reduces it (and so accepts good + n), OpenSSL would refuse.
    modulus = public["modulus"]
    above = int.from_bytes(good, "big") + modulus
    assert _both(hasher, above.to_bytes((above.bit_length() + 7) // 8, "big"), public) == (True, True)
    assert _both(hasher, modulus.to_bytes(256, "big"), public) == (False, False)
    assert _both(hasher, b"\xff" * 256, public) == (False, False)
    assert _both(hasher, b"", public) == (False, False)
    sha1 = hashlib.sha1(b"the signed headers")  # noqa: S324 - rsa-sha1 signatures exist in the wild
    assert _both(sha1, good, public) == (False, False)
    sha1_good = private.sign(sha1.digest(), PKCS1v15(), Prehashed(hashes.SHA1()))  # noqa: S303
    assert _both(sha1, sha1_good, public) == (True, True)


def test_sha256_signatures_are_answered_by_openssl_without_dkimpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agreement above would hold if every call fell through to dkimpy: here dkimpy's check is
    unreachable, so the ordinary answers must come from OpenSSL."""
    private, public = _key()
    hasher = hashlib.sha256(b"the signed headers")
    good = _sign(private, hasher.digest())
    # Another key whose modulus is above the signature's value: one below it is dkimpy's case by
    # design (it reduces the value, OpenSSL refuses it), and random 2048-bit keys give one of
    # those often enough that this test failed now and then in CI.
    other_public = _key()[1]
    while other_public["modulus"] <= int.from_bytes(good, "big"):
        other_public = _key()[1]

    def unreachable(*_args: object) -> bool:
        raise AssertionError("fell through to dkimpy")

    monkeypatch.setattr(dkim_rsa, "_DKIMPY_VERIFY", unreachable)
    assert dkim_rsa.verify(hasher, good, public) is True
    # Tampered in the last byte, so the value stays below the modulus.
    assert dkim_rsa.verify(hasher, good[:-1] + bytes([good[-1] ^ 1]), public) is False
    assert dkim_rsa.verify(hasher, good, other_public) is False
    assert dkim_rsa.verify(hasher, b"", public) is False


def test_a_signature_with_its_leading_zero_byte_dropped_still_verifies() -> None:
    private, public = _key()
    for n in range(2000):
        hasher = hashlib.sha256(b"headers %d" % n)
        signature = _sign(private, hasher.digest())
        if signature[0] == 0:
            assert _both(hasher, signature[1:], public) == (True, True)
            return
    pytest.skip("no signature began with a zero byte")


def test_a_digest_too_large_for_the_key_raises_as_dkimpy_does() -> None:
    public = {"modulus": (1 << 479) | 1, "publicExponent": 65537}  # 60 bytes: no room for SHA-256's block
    hasher = hashlib.sha256(b"x")
    for check in (_DKIMPY, dkim_rsa.verify):
        with pytest.raises(DigestTooLargeError):
            check(hasher, b"\x01" * 60, public)


def test_the_check_is_the_one_dkimpy_uses() -> None:
    import stopit_mail.headers.dkim_verify  # noqa: F401 - installs it

    assert dkim.RSASSA_PKCS1_v1_5_verify is dkim_rsa.verify
