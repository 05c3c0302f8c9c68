"""DNS TXT look-ups for DKIM and ARC keys, behind a small injectable interface.

Verifying a signature means fetching the signer's public key from
``selector._domainkey.domain``. Everything in ``stopit_mail.headers`` asks a
:class:`Resolver` for TXT records instead of touching the network, so tests and
corpus vectors run offline (:class:`StaticResolver`), a machine without network
gets honest "temporary error" verdicts (:class:`OfflineResolver`), and
production uses dnspython with short timeouts and an on-disk cache
(:class:`DnspythonResolver`).

:class:`DkimDnsFunc` adapts a resolver to the ``dnsfunc(name, timeout=5)``
callable that dkimpy expects, and remembers every answer so that a verdict can
be stored together with the key record that produced it (keys rotate; a
verdict without its key cannot be re-checked later).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import dkim

# Key-record rules live in dkimkeys; they are re-exported here, where callers
# have always imported them from.
from .dkimkeys import MAX_RSA_BITS as MAX_RSA_BITS
from .dkimkeys import DkimKeyRecord as DkimKeyRecord
from .dkimkeys import KeyVerdict as KeyVerdict
from .dkimkeys import for_dkimpy as for_dkimpy
from .dkimkeys import looks_like_key as looks_like_key
from .dkimkeys import read_key_record as read_key_record
from .dkimkeys import vet_key as vet_key


class DnsNotFound(Exception):
    """The name does not exist, or has no TXT record (a permanent answer)."""


class DnsTemporaryError(Exception):
    """The question could not be answered now (timeout, SERVFAIL, no network)."""


class Resolver(Protocol):
    """Anything that can answer TXT questions.

    ``txt`` returns one ``bytes`` per TXT record, with the record's character
    strings already joined (RFC 6376 section 3.6.2.2). It raises
    :class:`DnsNotFound` or :class:`DnsTemporaryError`, never anything else.
    """

    def txt(self, name: str) -> list[bytes]: ...


def normalise_name(name: str) -> str:
    """Lower-case a DNS name and drop the trailing dot, for comparisons and cache keys."""
    return name.strip().rstrip(".").lower()


class StaticResolver:
    """Answers from a dictionary: for tests and published test vectors.

    Values may be a ``str`` or ``bytes`` (one record), a list of them (several
    records), an exception instance to raise, or an error marker in the corpus
    format: ``{"dns_error": "NXDOMAIN"}`` is a not-found answer, any other
    ``dns_error`` (timeout, SERVFAIL) is temporary, and
    ``{"missing_from_fake_dns": true}`` is not-found. Names absent from the
    dictionary do not exist.
    """

    def __init__(self, records: Mapping[str, object]) -> None:
        self._records = {normalise_name(k): v for k, v in records.items()}

    def txt(self, name: str) -> list[bytes]:
        value = self._records.get(normalise_name(name))
        if value is None:
            raise DnsNotFound(f"NXDOMAIN: {normalise_name(name)}")
        if isinstance(value, (DnsNotFound, DnsTemporaryError)):
            # A fresh instance, so a shared marker never accumulates tracebacks.
            raise type(value)(*value.args)
        if isinstance(value, Mapping):
            raise _marker_error(value)
        if isinstance(value, (str, bytes)):
            return [_as_bytes(value)]
        if isinstance(value, (list, tuple)):
            return [_as_bytes(v) for v in value if isinstance(v, (str, bytes))]
        raise DnsTemporaryError(f"unusable static record for {name!r}")


def _marker_error(marker: Mapping[object, object]) -> Exception:
    """Turn a corpus-style error marker into the matching resolver error."""
    if marker.get("missing_from_fake_dns"):
        return DnsNotFound("NXDOMAIN (absent from the fake DNS)")
    error = str(marker.get("dns_error", "unknown DNS error"))
    if error.upper() in ("NXDOMAIN", "NODATA", "NOERROR"):
        return DnsNotFound(error)
    return DnsTemporaryError(error)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


class OfflineResolver:
    """Answers every question with a temporary error: verification without network."""

    def txt(self, name: str) -> list[bytes]:
        raise DnsTemporaryError("offline")


class DnspythonResolver:
    """Real DNS through dnspython, with short timeouts and an optional JSON cache.

    Positive answers are cached for their TTL (capped at ``max_ttl``), negative
    answers (NXDOMAIN, no TXT) for ``negative_ttl`` seconds; temporary errors
    are never cached, so the next attempt asks again. The cache holds one small
    JSON file per name under ``cache_dir``, written atomically, so concurrent
    workers can share it.
    """

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        *,
        lifetime: float = 3.0,
        nameservers: Sequence[str] | None = None,
        port: int = 53,
        negative_ttl: int = 300,
        max_ttl: int = 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.lifetime = lifetime
        self.negative_ttl = negative_ttl
        self.max_ttl = max_ttl
        self._clock = clock
        self._setup_error = ""
        self._resolver = self._make_resolver(nameservers, port)

    def _make_resolver(self, nameservers: Sequence[str] | None, port: int) -> object | None:
        import dns.resolver

        try:
            resolver = dns.resolver.Resolver(configure=nameservers is None)
        except Exception as exc:  # no /etc/resolv.conf, for instance
            # Report it on each question instead of failing at start-up.
            self._setup_error = f"no resolver configuration: {exc}"
            return None
        if nameservers is not None:
            resolver.nameservers = list(nameservers)
            resolver.port = port
        resolver.timeout = self.lifetime
        resolver.lifetime = self.lifetime
        return resolver

    def txt(self, name: str) -> list[bytes]:
        key = normalise_name(name)
        cached = self._read_cache(key)
        if cached is not None:
            status, records = cached
            if status == "not-found":
                raise DnsNotFound(f"NXDOMAIN or no TXT (cached): {key}")
            return records
        try:
            records, ttl = self._query(key)
        except DnsNotFound:
            self._write_cache(key, "not-found", [], self.negative_ttl)
            raise
        self._write_cache(key, "found", records, min(ttl, self.max_ttl))
        return records

    def _query(self, key: str) -> tuple[list[bytes], int]:
        import dns.exception
        import dns.name
        import dns.resolver

        if self._resolver is None:
            raise DnsTemporaryError(self._setup_error)
        try:
            qname = dns.name.from_text(key)
        except Exception as exc:
            raise DnsNotFound(f"not a valid DNS name: {key!r} ({exc})") from None
        try:
            answer = self._resolver.resolve(  # type: ignore[attr-defined]
                qname, "TXT", lifetime=self.lifetime, raise_on_no_answer=False, search=False
            )
        except dns.resolver.NXDOMAIN:
            raise DnsNotFound(f"NXDOMAIN: {key}") from None
        except dns.exception.Timeout:
            raise DnsTemporaryError(f"DNS timeout: {key}") from None
        except dns.resolver.NoNameservers as exc:
            raise DnsTemporaryError(f"DNS server failure (SERVFAIL/REFUSED): {exc}") from None
        except Exception as exc:
            raise DnsTemporaryError(f"DNS error: {type(exc).__name__}: {exc}") from None
        if answer.rrset is None:
            raise DnsNotFound(f"no TXT record: {key}")
        records = [b"".join(rdata.strings) for rdata in answer.rrset]
        return records, int(answer.rrset.ttl)

    def _cache_path(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:40]
        return self.cache_dir / f"{digest}.json"

    def _read_cache(self, key: str) -> tuple[str, list[bytes]] | None:
        path = self._cache_path(key)
        if path is None:
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if entry["name"] != key or float(entry["expires"]) <= self._clock():
                return None
            records = [base64.b64decode(r) for r in entry["records"]]
            return str(entry["status"]), records
        except Exception:
            # A missing, stale or damaged entry just means "ask DNS".
            return None

    def _write_cache(self, key: str, status: str, records: list[bytes], ttl: int) -> None:
        path = self._cache_path(key)
        if path is None or ttl <= 0:
            return
        entry = {
            "name": key,
            "status": status,
            "expires": self._clock() + ttl,
            "records": [base64.b64encode(r).decode("ascii") for r in records],
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle)
            os.replace(tmp, path)
        except OSError:
            # The cache is an optimisation; failing to write it must not fail a verdict.
            pass


LookupStatus = Literal["found", "not-found", "temperror"]


@dataclass
class KeyLookup:
    """One key question and its answer, kept so verdicts can cite their key."""

    name: str
    status: LookupStatus
    records: list[bytes] = field(default_factory=list)
    error: str = ""

    @property
    def record(self) -> bytes | None:
        """The TXT record used as the key: the first that looks like a DKIM key.

        RFC 6376 section 3.6.2.2 leaves several records undefined; choosing the
        first one that carries a ``p=`` tag matches common verifiers.
        """
        for record in self.records:
            if looks_like_key(record):
                return record
        return self.records[0] if self.records else None


class DkimDnsFunc:
    """A resolver in dkimpy's ``dnsfunc(name, timeout=5) -> bytes | None`` shape.

    dkimpy treats ``None`` as "no key" and ``dkim.DnsTimeoutError`` as a DNS
    failure, but then folds both into ``False``; so this adapter records each
    answer in :attr:`lookups` for the caller to tell temperror (DNS failure)
    from permerror (no key) afterwards. Answers are memoised per instance: one
    message's DKIM and ARC signatures often share a key. dkimpy's ``timeout``
    argument is ignored; the resolver has its own.
    """

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self.lookups: dict[str, KeyLookup] = {}

    def lookup(self, name: str) -> KeyLookup:
        """Ask the resolver once per name; never raises."""
        key = normalise_name(name)
        if key not in self.lookups:
            self.lookups[key] = self._ask(key)
        return self.lookups[key]

    def _ask(self, key: str) -> KeyLookup:
        try:
            records = list(self._resolver.txt(key))
        except DnsNotFound as exc:
            return KeyLookup(key, "not-found", error=str(exc) or "not found")
        except DnsTemporaryError as exc:
            return KeyLookup(key, "temperror", error=str(exc) or "temporary DNS error")
        except Exception as exc:
            # A buggy resolver is a temporary fault of ours, not the sender's.
            return KeyLookup(key, "temperror", error=f"resolver crashed: {exc!r}")
        if not records:
            return KeyLookup(key, "not-found", error="no TXT record")
        return KeyLookup(key, "found", records=records)

    def __call__(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        answer = self.lookup(name_to_text(name))
        if answer.status == "temperror":
            raise dkim.DnsTimeoutError(answer.error)
        record = answer.record
        return None if record is None else for_dkimpy(record)


def name_to_text(name: bytes | str) -> str:
    """Decode the key name dkimpy builds from s= and d= (bytes, trailing dot)."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return normalise_name(name)
