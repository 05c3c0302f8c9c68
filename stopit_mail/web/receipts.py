"""Receipt codes: long, random, easy to read aloud, and stored only as an argon2 hash.

A code is six groups of four Crockford base32 characters (120 bits), e.g.
`K7QD-9M2X-PA3W-R8TB-4HNC-Y6VE`: no I, L, O or U, so nothing is mistaken when read aloud or
typed (I and L are read as 1, O as 0). The database keeps a SHA-256 of the first two groups,
to find the row, and an argon2id hash of the whole code, like GlobaLeaks.

The hash uses OWASP's minimum argon2id parameters (19 MiB, 2 passes, 1 lane), not argon2-cffi's
default (64 MiB, 3 passes, 4 lanes): the code's 120 random bits, not the hash's cost, are what
make guessing hopeless, and the default took 0.8 s of both cores per report on a busy 2-core
machine (bench/web.py), which made every report and every check-back a denial-of-service lever.
Hashes record their parameters, so receipts made under other parameters still verify. A wrong code costs the same argon2 verification whether
or not its first groups match a receipt, so neither the answer nor its timing tells which.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail.models import WebReceipt

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 6
GROUP_LENGTH = 4
CODE_LENGTH = GROUPS * GROUP_LENGTH
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})


def new_code() -> str:
    """A fresh code, grouped for reading: K7QD-9M2X-PA3W-R8TB-4HNC-Y6VE."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return group(raw)


def group(code: str) -> str:
    """Insert the dashes back into a normalised code."""
    return "-".join(code[i:i + GROUP_LENGTH] for i in range(0, len(code), GROUP_LENGTH))


def normalise(text: str) -> str | None:
    """The code as typed (any case, spaces, dashes, I/L/O) in canonical form, or None if impossible."""
    code = "".join(ch for ch in text.upper() if not ch.isspace() and ch != "-").translate(_READ_AS)
    if len(code) != CODE_LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code


def lookup_key(code: str) -> str:
    """SHA-256 of the first two groups: finds the row, says nothing about the rest."""
    return hashlib.sha256(b"stopit web receipt\0" + code[: 2 * GROUP_LENGTH].encode()).hexdigest()


class ReceiptBook:
    """Issues receipts and opens them by code, in the caller's transaction."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

    @cached_property
    def _decoy(self) -> str:
        # Verified against when no receipt matches, so a miss costs what a hit costs.
        return self.hasher.hash(new_code())

    def warm(self) -> None:
        """Compute the decoy hash now rather than during the first wrong code."""
        _ = self._decoy

    def issue(self, session: Session, raw_message_id: int, organisation: str) -> str:
        """A new receipt for a stored web report; returns the code (shown once, never stored)."""
        while True:
            code = new_code()
            key = lookup_key(normalise(code) or "")
            if session.scalar(select(WebReceipt.id).where(WebReceipt.lookup == key)) is None:
                break
        session.add(WebReceipt(lookup=key, code_hash=self.hasher.hash(normalise(code) or ""),
                               raw_message_id=raw_message_id, organisation=organisation))
        session.flush()
        return code

    def open(self, session: Session, typed: str) -> WebReceipt | None:
        """The receipt this code opens, or None (same work either way)."""
        code = normalise(typed) or normalise(new_code()) or ""
        receipt = session.scalar(select(WebReceipt).where(WebReceipt.lookup == lookup_key(code)))
        stored = receipt.code_hash if receipt is not None else self._decoy
        try:
            self.hasher.verify(stored, code)
        except (VerificationError, InvalidHashError):
            return None
        return receipt if normalise(typed) is not None else None
