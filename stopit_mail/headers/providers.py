"""The big mailbox providers and mail gateways, from the shipped ``providers.toml``.

A trace needs to know, with no configuration, which relays belong to the provider that
received the evidence (Microsoft 365's internal hops use public IPv6 addresses, so "private
means internal" is not enough) and whether the first outside relay is itself a big sending
provider. The data is versioned and lists its sources; this module only reads and matches it.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from .ipclass import PUBLIC, classify_ip, parse_ip
from .received import ReceivedHop

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAILBOX, GATEWAY = "mailbox", "gateway"
_KEYS = {"key", "name", "kind", "hosts", "networks", "complete", "by_only", "headers", "client_ip", "inbound",
         "abuse", "sources"}


# Every hop is matched against every provider, and the same relays recur in every message:
# the answers are remembered (bounded), which keeps the trace within its time budget.
_HOST_CACHE: dict[tuple[str, str], bool] = {}
_IP_CACHE: dict[tuple[str, str], bool] = {}
_CACHE_LIMIT = 50_000


def _remember(cache: dict[tuple[str, str], bool], key: tuple[str, str], value: bool) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


@dataclass(frozen=True)
class Provider:
    """One provider's signatures (see the comments in providers.toml)."""

    key: str
    name: str
    kind: str
    hosts: tuple[str, ...]
    networks: tuple[IPNetwork, ...]
    by_only: tuple[re.Pattern[str], ...]
    headers: tuple[str, ...]
    client_ip: tuple[str, ...]
    inbound: tuple[str, ...]
    abuse: str | None
    sources: tuple[str, ...]
    complete: bool = False

    def has_host(self, name: str | None) -> bool:
        host = (name or "").strip().lower().rstrip(".")
        if not host:
            return False
        key = (self.key, host)
        found = _HOST_CACHE.get(key)
        if found is None:
            found = any(host.endswith(s) or host == s.lstrip(".") for s in self.hosts)
            _remember(_HOST_CACHE, key, found)
        return found

    def has_ip(self, ip: str | None) -> bool:
        if not ip or not self.networks:
            return False
        key = (self.key, ip)
        found = _IP_CACHE.get(key)
        if found is None:
            address = parse_ip(ip)
            found = address is not None and any(address.version == n.version and address in n
                                                 for n in self.networks)
            _remember(_IP_CACHE, key, found)
        return found

    def has_header(self, name: str) -> bool:
        lowered = name.strip().lower()
        return any(lowered.startswith(h) if h.endswith("-") else lowered == h for h in self.headers)

    def wrote(self, hop: ReceivedHop) -> bool:
        """This provider's relay recorded the hop (its ``by`` side, or a by-only internal form)."""
        if self.has_host(hop.by_host) or self.has_ip(hop.by_ip):
            return True
        if hop.has_from_clause or not self.by_only:
            return False
        text = " ".join(hop.raw.split())
        return any(p.search(text) for p in self.by_only)

    def is_client(self, hop: ReceivedHop, *, same_writer: bool = False) -> bool:
        """The hop's connecting client is this provider's relay, judged by what the receiving
        relay saw (the address and its reverse-DNS name), never by the HELO name.

        Anyone can point the reverse DNS of their own address at ``x.outlook.com``, so for a
        provider that publishes its ranges a public address outside them counts only when
        the provider itself wrote the hop (its own internal hand-over) and its ranges are not
        known to be complete, as does a bare
        name with no address at all in a hop the provider wrote."""
        if self.has_ip(hop.from_ip):
            return True
        if same_writer and hop.from_ip is None and self.has_host(hop.from_helo):
            # Yahoo's "from sonic...yahoo.com by atlas...yahoo.com": its own relay, no address.
            return True
        if not self.has_host(hop.from_rdns):
            return False
        outside = self.networks and hop.from_ip and classify_ip(hop.from_ip) == PUBLIC
        return not outside or (same_writer and not self.complete)

    def is_inbound_frontend(self, host: str | None) -> bool:
        name = (host or "").lower()
        return any(pattern in name for pattern in self.inbound)


@dataclass(frozen=True)
class Catalog:
    """Every shipped provider, and the data's version."""

    version: str
    providers: tuple[Provider, ...]
    _owners: dict[tuple[str, str], Provider | None] = field(default_factory=dict, compare=False, repr=False)

    def writer_of(self, hop: ReceivedHop) -> Provider | None:
        return next((p for p in self._candidates(hop.by_host, hop.by_ip) if p.wrote(hop)), None) \
            or (None if hop.has_from_clause else next((p for p in self.providers if p.by_only and p.wrote(hop)), None))

    def client_of(self, hop: ReceivedHop) -> Provider | None:
        names = self._candidates(hop.from_rdns, hop.from_ip) + self._candidates(hop.from_helo, None)
        return next((p for p in names if p.is_client(hop, same_writer=p.wrote(hop))), None)

    def owner_of_ip(self, ip: str | None) -> Provider | None:
        """The provider whose published ranges hold ``ip``, if any."""
        return self._owner("ip", ip)

    def _candidates(self, host: str | None, ip: str | None) -> list[Provider]:
        """The providers a host name or address could belong to (at most a couple)."""
        found = [p for p in (self._owner("host", host), self._owner("ip", ip)) if p is not None]
        return found if len(found) < 2 or found[0] is not found[1] else found[:1]

    def _owner(self, kind: str, value: str | None) -> Provider | None:
        if not value:
            return None
        cache = self._owners
        key = (kind, value)
        if key not in cache:
            test = Provider.has_host if kind == "host" else Provider.has_ip
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = next((p for p in self.providers if test(p, value)), None)
        return cache[key]

    def by_header_fields(self, names: list[str]) -> Provider | None:
        """The provider whose own header fields the message carries most of (a weak hint)."""
        counts: dict[str, int] = {}
        for name in names:
            lowered = name.strip().lower()
            if not lowered.startswith("x-"):
                continue  # every provider's own fields are X- fields
            for provider in self.providers:
                if provider.has_header(lowered):
                    counts[provider.key] = counts.get(provider.key, 0) + 1
        if not counts:
            return None
        return self.get(max(counts, key=lambda key: counts[key]))

    def get(self, key: str) -> Provider | None:
        return next((p for p in self.providers if p.key == key), None)


def _provider(entry: dict[str, Any]) -> Provider:
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"providers.toml: unknown keys {sorted(unknown)} in {entry.get('key')!r}")
    if entry["kind"] not in (MAILBOX, GATEWAY):
        raise ValueError(f"providers.toml: kind of {entry['key']!r} must be mailbox or gateway")
    return Provider(
        key=entry["key"], name=entry["name"], kind=entry["kind"],
        hosts=tuple(h.lower() for h in entry["hosts"]),
        networks=tuple(ipaddress.ip_network(n) for n in entry["networks"]),
        by_only=tuple(re.compile(p, re.I) for p in entry["by_only"]),
        headers=tuple(h.lower() for h in entry["headers"]),
        client_ip=tuple(h.lower() for h in entry["client_ip"]),
        inbound=tuple(h.lower() for h in entry["inbound"]),
        abuse=entry.get("abuse") or None, sources=tuple(entry["sources"]),
        complete=bool(entry.get("complete", False)),
    )


def parse_catalog(text: str) -> Catalog:
    """A catalog from TOML text; raises ValueError (or KeyError) on malformed data."""
    data = tomllib.loads(text)
    return Catalog(str(data["version"]), tuple(_provider(e) for e in data["provider"]))


@lru_cache(maxsize=1)
def shipped_catalog() -> Catalog:
    """The catalog shipped with the package (read once)."""
    text = resources.files("stopit_mail.headers").joinpath("providers.toml").read_text("utf-8")
    return parse_catalog(text)
