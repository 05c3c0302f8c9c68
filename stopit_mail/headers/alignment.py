"""DMARC-style alignment: does a verified signing domain vouch for the From line?

A DKIM pass only says "the domain in ``d=`` handled this message". Staff need
to know whether that domain is the one in the RFC5322.From address the
recipient saw. DMARC (RFC 7489 section 3.1) calls that *alignment*: *strict*
when the domains are identical, *relaxed* when they share an organisational
domain, which is found with the Public Suffix List (``mail.example.co.uk`` and
``example.co.uk`` share ``example.co.uk``; ``example.co.uk`` and
``other.co.uk`` share only the public suffix ``co.uk``, which does not count).

The list comes from the ``publicsuffixlist`` package's bundled snapshot and is
never fetched at run time.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from stopit_mail.extract.mime import quote_address_names


@dataclass(frozen=True)
class Alignment:
    """How one signing domain relates to one From domain."""

    signing_domain: str
    from_domain: str
    strict: bool
    relaxed: bool

    @property
    def mode(self) -> str:
        """``"strict"``, ``"relaxed"`` or ``"none"``: the best alignment reached."""
        return "strict" if self.strict else "relaxed" if self.relaxed else "none"


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    # Loading the list takes tens of milliseconds; one read-only copy per process is enough.
    return PublicSuffixList()


# Domain answers are pure functions of the name and each message asks several
# times (From, d=, organisational domains), so they are memoised. Names longer
# than any DNS name are not cached, so hostile headers cannot fill memory.
_CACHE_SIZE = 2048
_MAX_CACHED_NAME = 255


def normalise_domain(domain: str) -> str:
    """Lower-case, strip brackets and trailing dot, and convert to IDNA A-labels if possible."""
    if len(domain) <= _MAX_CACHED_NAME:
        return _normalise_domain_cached(domain)
    return _normalise_domain(domain)


def _normalise_domain(domain: str) -> str:
    domain = domain.strip().strip("<>[]").rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return domain


_normalise_domain_cached = lru_cache(maxsize=_CACHE_SIZE)(_normalise_domain)


def organisational_domain(domain: str) -> str:
    """The registrable domain (public suffix plus one label), or the domain itself.

    A domain that is itself a public suffix, or unknown to the list, is its own
    organisational domain, as in RFC 7489 section 3.2 step 3.
    """
    domain = normalise_domain(domain)
    if not domain:
        return ""
    if len(domain) <= _MAX_CACHED_NAME:
        return _registrable_cached(domain)
    return _registrable(domain)


def _registrable(domain: str) -> str:
    try:
        return _psl().privatesuffix(domain) or domain
    except Exception:
        return domain


_registrable_cached = lru_cache(maxsize=_CACHE_SIZE)(_registrable)


def align(signing_domain: str, from_domain: str) -> Alignment:
    """Compare a ``d=`` domain with a From domain, strictly and relaxed."""
    d = normalise_domain(signing_domain)
    f = normalise_domain(from_domain)
    strict = bool(d) and d == f
    relaxed = strict or (bool(d) and bool(f) and organisational_domain(d) == organisational_domain(f))
    return Alignment(d, f, strict, relaxed)


def from_domains(from_values: Iterable[str]) -> list[str]:
    """The distinct domains of the addresses in the given From header values.

    More than one domain (several From fields, or several addresses in one)
    leaves alignment ambiguous; the caller reports that rather than picking one.
    """
    domains: list[str] = []
    for value in from_values:
        for address in _addresses(value):
            domain = normalise_domain(address.rpartition("@")[2]) if "@" in address else ""
            if domain and domain not in domains:
                domains.append(domain)
    return domains


# A reporting mailbox sees the same From values again and again, and the email
# package's address parser is slow; short values are memoised.
_MAX_CACHED_VALUE = 998  # RFC 5322's line limit
# The address parser steps through the value a word at a time in Python: seconds for a
# hostile multi-megabyte From. Only the addresses within the first 64 KiB are read.
_MAX_VALUE = 65_536


def _addresses(value: str) -> list[str]:
    if len(value) <= _MAX_CACHED_VALUE:
        return list(_addresses_cached(value))
    if len(value) > _MAX_VALUE:
        value = value[:value.rfind(",", 0, _MAX_VALUE) + 1 or _MAX_VALUE]
    return list(_parse_addresses(value))


def _parse_addresses(value: str) -> tuple[str, ...]:
    try:
        # An unquoted name holding an '@' is the name, as the extractor reads it (see mime).
        return tuple(addr for _name, addr in email.utils.getaddresses([quote_address_names(value)]) if addr)
    except Exception:
        # The email package trips on some hostile input; an unreadable From has no domain.
        return ()


_addresses_cached = lru_cache(maxsize=_CACHE_SIZE)(_parse_addresses)
