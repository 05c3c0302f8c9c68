"""DKIM key records (RFC 6376 section 3.6.1): reading them and deciding whether one may
verify a given signature.

A key record is fetched from DNS (:mod:`stopit_mail.headers.dns`), but what it
says is a matter of its tags: ``p=`` (empty means revoked), ``k=`` key type,
``h=`` hashes, ``s=`` services and ``t=`` flags. dkimpy 1.1.8 checks only part
of these, so :func:`vet_key` applies every rule itself and
:func:`for_dkimpy` rewrites the one tag dkimpy misreads. Nothing here raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value


def looks_like_key(record: bytes) -> bool:
    """True when a TXT record parses as a tag list with a ``p=`` tag."""
    try:
        return b"p" in parse_tag_value(record)
    except (InvalidTagValueList, ValueError):
        return False


def for_dkimpy(record: bytes) -> bytes:
    """Rewrite a key record's ``s=`` so dkimpy 1.1.8 reads it as RFC 6376 means it.

    dkimpy compares ``s=`` as a whole string, so the valid list
    ``s=email:web`` makes it drop the key. RFC 6376 section 3.6.1 makes ``s=`` a
    colon-separated list; when the list admits email we hand dkimpy ``s=*``.
    Anything unparseable goes through untouched for dkimpy to reject.
    """
    try:
        tags = parse_tag_value(record)
    except (InvalidTagValueList, ValueError):
        return record
    services = tags.get(b"s")
    if services is None or services in (b"*", b"email", b"tlsrpt"):
        return record
    if not {s.strip().lower() for s in services.split(b":")} & {b"*", b"email"}:
        return record
    tags[b"s"] = b"*"
    return b"; ".join(k + b"=" + v for k, v in tags.items())


@dataclass
class DkimKeyRecord:
    """The tags of a DKIM key record (RFC 6376 section 3.6.1) that a verifier must obey."""

    text: str
    key_type: str = "rsa"
    public_key: str = ""
    hash_algorithms: list[str] | None = None
    services: list[str] | None = None
    flags: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def revoked(self) -> bool:
        """An empty ``p=`` is how a domain revokes a key."""
        return not self.error and self.public_key == ""

    @property
    def testing(self) -> bool:
        """``t=y``: the domain is testing DKIM and asks not to be trusted yet."""
        return "y" in self.flags

    @property
    def strict_identity(self) -> bool:
        """``t=s``: an ``i=`` identity must be in exactly the ``d=`` domain."""
        return "s" in self.flags


def read_key_record(record: bytes) -> DkimKeyRecord:
    """Parse a key record; syntax problems land in ``error`` instead of raising."""
    text = record.decode("utf-8", "replace")
    try:
        tags = {k.decode("ascii", "replace"): v.decode("ascii", "replace")
                for k, v in parse_tag_value(record).items()}
    except (InvalidTagValueList, ValueError) as exc:
        return DkimKeyRecord(text, error=f"key record syntax error ({exc})")
    if tags.get("v", "DKIM1") != "DKIM1":
        return DkimKeyRecord(text, error=f"unsupported key record version v={tags['v']}")
    if "p" not in tags:
        return DkimKeyRecord(text, error="key record has no p= tag")
    return DkimKeyRecord(
        text,
        key_type=tags.get("k", "rsa").strip().lower(),
        public_key="".join(tags["p"].split()),
        hash_algorithms=_colon_list(tags.get("h")),
        services=_colon_list(tags.get("s")),
        flags=_colon_list(tags.get("t")) or [],
    )


def _colon_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [item.strip().lower() for item in value.split(":")]


@dataclass
class KeyVerdict:
    """Whether a fetched key may be used for one signature (RFC 6376 section 6.1.2)."""

    problem: str | None
    bits: int | None = None
    testing: bool = False
    # True when the fault is this installation's (a missing library), not the sender's.
    local_fault: bool = False


# Largest RSA key accepted: bigger keys only make verification slow.
MAX_RSA_BITS = 8192


def vet_key(record: bytes, name: str, *, key_type: str, hash_name: str, algorithm: str,
            domain: str, identity: str | None) -> KeyVerdict:
    """Check a key record against the signature that names it; never raises.

    dkimpy 1.1.8 checks only part of this (it ignores ``h=`` and ``t=s`` and
    misreads ``s=`` lists), so every rule of section 3.6.1 is applied here.
    """
    key = read_key_record(record)
    problem = key.error or _key_rule_problem(key, key_type, hash_name, algorithm, domain, identity)
    if problem:
        return KeyVerdict(problem, testing=key.testing)
    usable = for_dkimpy(record)
    outcome, bits, error = (_key_bits_cached(name, usable) if len(usable) <= _MAX_CACHED_RECORD
                            else _key_bits(name, usable))
    if outcome == "nacl":
        return KeyVerdict("ed25519 cannot be verified here: PyNaCl is not installed",
                          testing=key.testing, local_fault=True)
    if outcome == "error":
        return KeyVerdict(f"unusable key: {error}", testing=key.testing)
    if key_type == "rsa" and (bits or 0) > MAX_RSA_BITS:
        return KeyVerdict(f"RSA key of {bits} bits is larger than the {MAX_RSA_BITS}-bit limit",
                          bits, key.testing)
    return KeyVerdict(None, bits, key.testing)


# Parsing a public key (base64 and ASN.1 in pure Python) is a noticeable part of a
# verification, and one key signs many messages; the size found, or the reason the
# key is unusable, is memoised per (name, record). An 8192-bit RSA key record is
# under 2 KB; longer records are not cached, so odd DNS answers cannot fill memory.
_KEY_CACHE_SIZE = 256
_MAX_CACHED_RECORD = 4096


def _key_bits(name: str, record: bytes) -> tuple[str, int | None, str]:
    """("ok", bits, ""), ("nacl", None, "") or ("error", None, reason) for a key record."""
    try:
        _pk, bits, _ktag, _tlsrpt = _DKIMPY_EVALUATE_PK(name, record)
    except dkim.NaClNotFoundError:
        return "nacl", None, ""
    except Exception as exc:
        return "error", None, str(exc)
    return "ok", bits, ""


_key_bits_cached = lru_cache(maxsize=_KEY_CACHE_SIZE)(_key_bits)

_DKIMPY_EVALUATE_PK = dkim.evaluate_pk
_evaluated = lru_cache(maxsize=_KEY_CACHE_SIZE)(_DKIMPY_EVALUATE_PK)


def evaluate_pk(name: bytes | str, record: bytes | str) -> tuple[Any, int | None, bytes | None, bool]:
    """`dkim.evaluate_pk`, remembered per (name, record): dkimpy parses the key again for every
    signature it checks (base64 and ASN.1 in pure Python), although one key signs many messages.
    A record dkimpy refuses raises every time, as before (exceptions are not remembered); the
    RSA key's numbers are handed out as a copy, so a verifier cannot change the remembered one."""
    if not isinstance(record, bytes) or len(record) > _MAX_CACHED_RECORD or not isinstance(name, (bytes, str)):
        return _DKIMPY_EVALUATE_PK(name, record)  # type: ignore[no-any-return]
    pk, bits, ktag, tlsrpt = _evaluated(name, record)
    return (dict(pk) if isinstance(pk, dict) else pk), bits, ktag, tlsrpt


def install() -> None:
    """Make dkimpy's key loading (`load_pk_from_dns`) use `evaluate_pk` (idempotent)."""
    dkim.evaluate_pk = evaluate_pk


def _key_rule_problem(key: DkimKeyRecord, key_type: str, hash_name: str, algorithm: str,
                      domain: str, identity: str | None) -> str | None:
    if key.revoked:
        return "key revoked (empty p=)"
    if key.services is not None and not {"*", "email"} & set(key.services):
        return f"key is not for email (s={':'.join(key.services)})"
    if key.key_type != key_type:
        return f"key type k={key.key_type} does not match a={algorithm}"
    if key.hash_algorithms is not None and hash_name not in key.hash_algorithms:
        return f"key does not allow {hash_name} (h={':'.join(key.hash_algorithms)})"
    if key.strict_identity and identity is not None:
        if identity.rpartition("@")[2].lower() != domain.lower():
            return "key requires the i= domain to equal d= exactly (t=s)"
    return None
