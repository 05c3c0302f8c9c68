"""Normalise and classify IP addresses found in mail headers.

The trace needs two things from an address: one canonical spelling (so the same
host written as ``[IPv6:::ffff:1.2.3.4]`` and ``1.2.3.4`` compares equal) and a
class that tells staff whether the address can point at a sender on the
Internet at all. Private, CGNAT, documentation and similar ranges cannot, and
saying so plainly stops people from chasing them.

Nothing here raises on bad input: text that is not an address gives ``None`` or
the class ``"invalid"``.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PUBLIC: Final = "public"
PRIVATE: Final = "private"
LOOPBACK: Final = "loopback"
LINK_LOCAL: Final = "link-local"
CGNAT: Final = "cgnat"
DOCUMENTATION: Final = "documentation"
MULTICAST: Final = "multicast"
RESERVED: Final = "reserved"
UNSPECIFIED: Final = "unspecified"
INVALID: Final = "invalid"

#: Every class :func:`classify_ip` can return, for documentation and tests.
IP_CLASSES: Final = (
    PUBLIC, PRIVATE, LOOPBACK, LINK_LOCAL, CGNAT, DOCUMENTATION,
    MULTICAST, RESERVED, UNSPECIFIED, INVALID,
)

# Checked in this order; the first match wins. Documentation ranges come before
# "private" because Python's ``is_private`` also covers them and staff should be
# told "this is an example address", not "this is someone's LAN".
_RANGES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (DOCUMENTATION, (
        "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
        "2001:db8::/32", "3fff::/20",
    )),
    (CGNAT, ("100.64.0.0/10",)),
    (PRIVATE, ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    (RESERVED, (
        "0.0.0.0/8", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4",
        "255.255.255.255/32", "fec0::/10", "100::/64",
    )),
)
_NETWORKS: Final = tuple(
    (label, tuple(ipaddress.ip_network(n) for n in nets)) for label, nets in _RANGES
)

_PORT_SUFFIX = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3})[:.](\d{1,5})$")


# The trace asks about the same few addresses many times per message (parsing,
# trust, chain checks, output), and ipaddress parsing is slow; both steps are pure
# functions of their input, so they are memoised. Only short texts are cached:
# no address is longer than this, and hostile headers must not fill the cache.
_CACHE_SIZE = 4096
_MAX_CACHED_TEXT = 80


def parse_ip(text: str | None) -> IPAddress | None:
    """Parse an address as it appears in headers, or return ``None``.

    Accepts ``[1.2.3.4]``, ``IPv6:2001:db8::1`` (with or without a space after
    the colon), a trailing port on IPv4 (``1.2.3.4:25``), an IPv6 zone
    (``fe80::1%14``) and IPv6-mapped IPv4, which is returned as IPv4 because the
    mapped form is only how a dual-stack socket reports an IPv4 client.
    """
    if not text:
        return None
    if len(text) <= _MAX_CACHED_TEXT:
        return _parse_ip_cached(text)
    return _parse_ip(text)


def _parse_ip(text: str) -> IPAddress | None:
    candidate = text.strip().strip("[]()<>?").strip()
    if candidate[:5].lower() == "ipv6:":
        candidate = candidate[5:].strip()
    candidate = candidate.split("%", 1)[0]
    match = _PORT_SUFFIX.match(candidate)
    if match:
        candidate = match.group(1)
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# Address objects are immutable, so handing out the same one twice is safe.
_parse_ip_cached = lru_cache(maxsize=_CACHE_SIZE)(_parse_ip)


def normalise_ip(text: str | None) -> str | None:
    """Canonical text for an address (compressed IPv6, mapped IPv4 unwrapped)."""
    address = parse_ip(text)
    return None if address is None else _compressed(address)


@lru_cache(maxsize=_CACHE_SIZE)
def _compressed(address: IPAddress) -> str:
    return address.compressed


def classify_ip(text: str | IPAddress | None) -> str:
    """Name the class of an address: one of :data:`IP_CLASSES`."""
    address = text if isinstance(text, (ipaddress.IPv4Address, ipaddress.IPv6Address)) \
        else parse_ip(text)
    if address is None:
        return INVALID
    return _classify(address)


@lru_cache(maxsize=_CACHE_SIZE)
def _classify(address: IPAddress) -> str:
    if address.is_unspecified:
        return UNSPECIFIED
    if address.is_loopback:
        return LOOPBACK
    if address.is_link_local:
        return LINK_LOCAL
    if address.is_multicast:
        return MULTICAST
    for label, networks in _NETWORKS:
        if any(address.version == net.version and address in net for net in networks):
            return label
    return PUBLIC if address.is_global else RESERVED


def is_external(text: str | None) -> bool:
    """True when the address could belong to a sender on the public Internet."""
    return classify_ip(text) == PUBLIC
