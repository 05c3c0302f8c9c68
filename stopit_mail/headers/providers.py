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
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from .ipclass import PUBLIC, classify_ip, parse_ip
from .received import ReceivedHop

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAILBOX, GATEWAY = "mailbox", "gateway"
_KEYS = {"key", "name", "kind", "hosts", "networks", "complete", "by_only", "headers", "client_ip", "inbound",
         "abuse", "sources"}


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
        return bool(host) and any(host.endswith(s) or host == s.lstrip(".") for s in self.hosts)

    def has_ip(self, ip: str | None) -> bool:
        address = parse_ip(ip)
        return address is not None and any(address.version == n.version and address in n for n in self.networks)

    def has_header(self, name: str) -> bool:
        lowered = name.strip().lower()
        return any(lowered.startswith(h) if h.endswith("-") else lowered == h for h in self.headers)

    def wrote(self, hop: ReceivedHop) -> bool:
        """This provider's relay recorded the hop (its ``by`` side, or a by-only internal form)."""
        if self.has_host(hop.by_host) or self.has_ip(hop.by_ip):
            return True
        text = " ".join(hop.raw.split())
        return not hop.has_from_clause and any(p.search(text) for p in self.by_only)

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

    def writer_of(self, hop: ReceivedHop) -> Provider | None:
        return next((p for p in self.providers if p.wrote(hop)), None)

    def client_of(self, hop: ReceivedHop) -> Provider | None:
        return next((p for p in self.providers if p.is_client(hop, same_writer=p.wrote(hop))), None)

    def by_header_fields(self, names: list[str]) -> Provider | None:
        """The provider whose own header fields the message carries most of (a weak hint)."""
        counts = [(sum(p.has_header(n) for n in names), p) for p in self.providers]
        best = max(counts, key=lambda pair: pair[0], default=(0, None))
        return best[1] if best[0] else None

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
