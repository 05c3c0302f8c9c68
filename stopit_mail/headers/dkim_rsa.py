"""dkimpy's RSA signature check with the exponentiation done by OpenSSL (`cryptography`).

dkimpy checks an RSA signature in pure Python: the modular exponentiation and byte-by-byte
integer conversions cost about 0.2 ms per signature, a tenth of processing a report. OpenSSL
does the same check in a few microseconds. The answer must not change, so the fast path only
takes what it answers exactly as dkimpy does, and hands everything else to dkimpy's own check:

- SHA-256 only (rsa-sha1 is rare, and some OpenSSL policies refuse SHA-1 outright);
- a signature no longer than the modulus whose value is below it: dkimpy reads the signature as
  an integer, so a shorter one (leading zero bytes dropped by a signer) is padded to the
  modulus's length first, as OpenSSL requires; a value at or above the modulus, which dkimpy
  reduces modulo it and OpenSSL refuses, goes to dkimpy.

Both compare the whole PKCS #1 v1.5 block (00 01 FF..FF 00 DigestInfo) with the one expected
for the digest; dkimpy's own encoder still runs first, so a digest too large for the modulus
raises exactly as before. Installed once, by `install()`, for every verifier in the process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import dkim
import dkim.crypto
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

_DKIMPY_VERIFY = dkim.crypto.RSASSA_PKCS1_v1_5_verify


@lru_cache(maxsize=256)
def _public_key(modulus: int, exponent: int) -> RSAPublicKey | None:
    """OpenSSL's form of a key (None when OpenSSL will not take it: dkimpy then checks)."""
    try:
        return RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError:
        return None


def verify(hash: Any, signature: bytes, public_key: dict[str, int]) -> bool:  # noqa: A002 - dkimpy's name
    """`dkim.crypto.RSASSA_PKCS1_v1_5_verify`, answered by OpenSSL where the answer is the same."""
    modulus, exponent = public_key.get("modulus"), public_key.get("publicExponent")
    if (getattr(hash, "name", "").lower() != "sha256" or not isinstance(modulus, int)
            or not isinstance(exponent, int) or not isinstance(signature, bytes) or modulus <= 0):
        return bool(_DKIMPY_VERIFY(hash, signature, public_key))
    length = (modulus.bit_length() + 7) // 8
    # dkimpy's encoding first: a digest too large for the modulus raises as it always did.
    dkim.crypto.EMSA_PKCS1_v1_5_encode(hash, length)
    key = _public_key(modulus, exponent)
    if key is None or len(signature) > length or int.from_bytes(signature, "big") >= modulus:
        return bool(_DKIMPY_VERIFY(hash, signature, public_key))
    try:
        key.verify(signature.rjust(length, b"\0"), hash.digest(), PKCS1v15(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
        return False
    except (ValueError, UnsupportedAlgorithm):  # a key or size OpenSSL refuses: dkimpy decides
        return bool(_DKIMPY_VERIFY(hash, signature, public_key))
    return True


def install() -> None:
    """Make every dkimpy verifier in this process use `verify` (idempotent)."""
    dkim.RSASSA_PKCS1_v1_5_verify = verify  # type: ignore[attr-defined]
