"""The relays an organisation configures as its own: their Received fields are facts."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .ipclass import parse_ip

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class TrustedRelays:
    """The relays whose Received fields are facts: our MTAs and chosen providers.

    ``hostnames`` entries match a name exactly; an entry starting with a dot
    (``.example.edu``) matches that domain and every name below it.
    """

    networks: list[IPNetwork] = field(default_factory=list)
    hostnames: list[str] = field(default_factory=list)
    trust_helo: bool = False

    @classmethod
    def from_strings(cls, entries: Iterable[str], trust_helo: bool = False) -> TrustedRelays:
        """Build from ``"10.0.0.0/8"``, ``"192.0.2.7"``, ``"mx.example.edu"``, ``".google.com"``.

        Raises ValueError on an entry that is neither a network nor a host name:
        configuration is ours, and a silently ignored typo would change verdicts.
        """
        relays = cls(trust_helo=trust_helo)
        for entry in entries:
            text = entry.strip()
            if not text:
                continue
            try:
                relays.networks.append(ipaddress.ip_network(text, strict=False))
                continue
            except ValueError:
                pass
            name = text.lower().rstrip(".")
            if not re.fullmatch(r"\.?[a-z0-9_](?:[a-z0-9_.\-]*[a-z0-9_])?", name):
                raise ValueError(f"trusted relay {entry!r} is neither a network nor a host name")
            relays.hostnames.append(name)
        return relays

    def __bool__(self) -> bool:
        return bool(self.networks or self.hostnames)

    def has_ip(self, ip: str | None) -> bool:
        address = parse_ip(ip)
        return address is not None and any(
            address.version == net.version and address in net for net in self.networks
        )

    def has_host(self, name: str | None) -> bool:
        host = (name or "").strip().lower().rstrip(".")
        if not host:
            return False
        for entry in self.hostnames:
            if entry.startswith("."):
                if host == entry[1:] or host.endswith(entry):
                    return True
            elif host == entry:
                return True
        return False

    def to_dict(self) -> dict[str, Any]:
        return {"networks": [str(n) for n in self.networks],
                "hostnames": list(self.hostnames), "trust_helo": self.trust_helo}
