"""Trace a message's Received chain: order, delays, origin and anomalies.

Who can be believed. Each Received field is written by the server that received
the message, so a field is only as honest as its writer. We walk from the top
(the newest field):

* The trusted run starts at the topmost hop written (``by``) by a configured
  trusted relay. With no configuration the topmost hop itself starts it: it was
  written by the server that delivered the message to the mailbox it came from
  ("trusted by receipt"). Hops above the start were added after the message
  reached that relay, so the sender cannot have written them either.
* Trust passes down to the next (older) hop only when the trusted hop's
  connecting client is itself trusted: its IP is in a trusted network or its
  reverse-DNS name matches a trusted host name (the HELO name is chosen by the
  client, so it counts only when ``trust_helo`` is set), or the hand-over was
  local (loopback, ``localhost``, a hop with no ``from`` host). With no
  configuration a client with a non-public address also passes trust on: that
  is the receiving provider's own internal network.
* The last trusted hop is the boundary. Its client is the origin, recorded by a
  relay we trust: ``confirmed`` (without configuration only for a public
  address; a private one just names a machine inside someone else's network).
  Every hop below it could have been written by the sender: ``untrusted-hop``.

If the boundary gives no usable address, the origin falls back to the newest
untrusted hop with a public client address, then to webmail headers such as
X-Originating-IP (``claimed``); failing both it is ``unknown``.

The anomaly checks on the chain live in :mod:`stopit_mail.headers.anomalies`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .anomalies import ANOMALY_CODES as ANOMALY_CODES
from .anomalies import Anomaly, find_anomalies
from .anomalies import registered_domain as registered_domain
from .fields import read_header_fields
from .ipclass import PUBLIC, classify_ip, normalise_ip, parse_ip
from .received import ReceivedHop, is_local_handover, parse_received_headers

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Headers in which webmail front ends and proxies name the submitting client.
#: They are written by whoever composed the message, so they are claims only.
CLAIM_HEADERS = (
    "x-originating-ip", "x-forwarded-for", "x-sender-ip", "x-yahoo-post-ip",
    "x-client-ip", "x-real-ip", "x-remote-ip", "x-source-ip", "x-aol-ip",
    "x-originating-client-ip", "x-ms-exchange-organization-originalclientipaddress",
)

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


@dataclass
class OriginVerdict:
    """Where the message came from, and how far that can be believed."""

    ip: str | None
    ip_class: str | None
    host: str | None
    helo: str | None
    confidence: str  # "confirmed" | "claimed" | "unknown"
    explanation: str
    hop_position: int | None = None
    recorded_by: str | None = None
    source: str | None = None  # "received" | header name | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Trace:
    """The traced chain; ``hops`` run from the sender outwards (oldest first).

    ``trusted[i]`` and ``delays[i]`` (time since the previous hop) belong to
    ``hops[i]``; ``hop.position`` still gives the field's place in the message.
    """

    hops: list[ReceivedHop]
    trusted: list[bool]
    delays: list[timedelta | None]
    total_transit: timedelta | None
    origin: OriginVerdict
    anomalies: list[Anomaly]
    originating_claims: list[dict[str, Any]]
    trust_mode: str  # "configured" | "receipt"
    trusted_relays: TrustedRelays | None = None

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-serialisable; keys are stable for the CLI and storage."""
        hops = []
        for hop, trusted, delay in zip(self.hops, self.trusted, self.delays, strict=True):
            data = hop.to_dict()
            data["trusted"] = trusted
            data["from_ip_class"] = classify_ip(hop.from_ip) if hop.from_ip else None
            data["by_ip_class"] = classify_ip(hop.by_ip) if hop.by_ip else None
            data["delay_seconds"] = delay.total_seconds() if delay is not None else None
            hops.append(data)
        total = self.total_transit
        return {
            "hops": hops,
            "total_transit_seconds": total.total_seconds() if total is not None else None,
            "origin": self.origin.to_dict(),
            "anomalies": [a.to_dict() for a in self.anomalies],
            "originating_claims": self.originating_claims,
            "trust_mode": self.trust_mode,
            "trusted_relays": self.trusted_relays.to_dict() if self.trusted_relays else None,
        }


def _client_trusted(hop: ReceivedHop, relays: TrustedRelays | None) -> bool:
    if is_local_handover(hop):
        return True
    if relays is None:
        return bool(hop.from_ip) and classify_ip(hop.from_ip) != PUBLIC
    return (relays.has_ip(hop.from_ip) or relays.has_host(hop.from_rdns)
            or (relays.trust_helo and relays.has_host(hop.from_helo)))


def _trust_flags(top_first: list[ReceivedHop], relays: TrustedRelays | None) -> list[bool]:
    """Mark each hop (top-first) trusted or not, following the module rules."""
    flags = [False] * len(top_first)
    if relays is None:
        start: int | None = 0 if top_first else None
    else:
        start = next((i for i, hop in enumerate(top_first)
                      if relays.has_host(hop.by_host) or relays.has_ip(hop.by_ip)), None)
    if start is None:
        return flags
    for i in range(start + 1):
        flags[i] = True
    i = start
    while i + 1 < len(top_first) and top_first[i].parsed_ok \
            and _client_trusted(top_first[i], relays):
        i += 1
        flags[i] = True
    return flags


def _origin_from_hop(hop: ReceivedHop, confidence: str, why: str) -> OriginVerdict:
    return OriginVerdict(
        ip=hop.from_ip, ip_class=classify_ip(hop.from_ip) if hop.from_ip else None,
        host=hop.from_rdns, helo=hop.from_helo, confidence=confidence, explanation=why,
        hop_position=hop.position, recorded_by=hop.by_host, source="received",
    )


def _claimed_origin(top_first: list[ReceivedHop], flags: list[bool],
                    claims: list[dict[str, Any]]) -> OriginVerdict | None:
    """The newest public address named by an untrusted hop, else by a claim header."""
    for hop, trusted in zip(top_first, flags, strict=True):
        if not trusted and hop.from_ip and classify_ip(hop.from_ip) == PUBLIC:
            return _origin_from_hop(hop, "claimed", (
                f"{hop.from_ip} is named by hop {hop.position}, written by "
                f"{hop.by_host or 'an unnamed relay'}, which is not trusted: the sender "
                "could have written it."))
    for claim in claims:
        for entry in claim["ips"]:
            if entry["class"] == PUBLIC:
                return OriginVerdict(
                    ip=entry["ip"], ip_class=PUBLIC, host=None, helo=None, confidence="claimed",
                    explanation=(f"{entry['ip']} comes only from the {claim['header']} header, "
                                 "which the sending software writes: a claim, not a fact."),
                    source=str(claim["header"]))
    return None


def _decide_origin(top_first: list[ReceivedHop], flags: list[bool],
                   claims: list[dict[str, Any]], configured: bool) -> OriginVerdict:
    boundary = max((i for i, ok in enumerate(flags) if ok), default=None)
    hop = top_first[boundary] if boundary is not None else None
    network_client = hop is not None and not is_local_handover(hop)
    if hop is not None and network_client and hop.from_ip:
        ip_class = classify_ip(hop.from_ip)
        # A non-public client is a useful fact inside our own (configured)
        # network; in someone else's it only names their internal machine.
        if ip_class == PUBLIC or configured:
            where = "" if ip_class == PUBLIC else f" (a {ip_class} address inside that network)"
            return _origin_from_hop(hop, "confirmed", (
                f"{hop.from_ip}{where} handed the message to {hop.by_host or 'a trusted relay'}, "
                f"which we trust; hop {hop.position} records it."))
    claimed = _claimed_origin(top_first, flags, claims)
    if claimed is not None:
        return claimed
    if hop is not None and network_client and (hop.from_ip or hop.from_host):
        what = (f"the {classify_ip(hop.from_ip)} address {hop.from_ip}, which names a machine "
                "inside the receiving network, not an Internet sender" if hop.from_ip
                else f"the name {hop.from_host}, with no address")
        return _origin_from_hop(hop, "unknown", f"Hop {hop.position} records only {what}.")
    if not top_first:
        why = "The message has no Received headers, so its path cannot be traced."
    elif boundary is None:
        why = "No Received header was written by a trusted relay and none names a public address."
    else:
        why = ("The trusted relays received the message locally, and no other header names "
               "a public address.")
    return OriginVerdict(None, None, None, None, "unknown", why)


_CLAIM_SPLIT = re.compile(r"[\s,;]+")


def _claims(headers: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    claims: list[dict[str, Any]] = []
    for name, value in headers:
        if name.strip().lower() not in CLAIM_HEADERS:
            continue
        ips: list[dict[str, str]] = []
        for word in _CLAIM_SPLIT.split(value):
            ip = normalise_ip(word.strip("\"'"))
            if ip and ip not in [e["ip"] for e in ips]:
                ips.append({"ip": ip, "class": classify_ip(ip)})
        claims.append({"header": name.strip(), "value": " ".join(value.split()), "ips": ips})
    return claims


def _delays(sender_first: list[ReceivedHop]) -> tuple[list[timedelta | None], timedelta | None]:
    delays: list[timedelta | None] = [None] if sender_first else []
    for older, newer in zip(sender_first, sender_first[1:], strict=False):
        ok = older.timestamp is not None and newer.timestamp is not None
        delays.append(newer.timestamp - older.timestamp if ok else None)  # type: ignore[operator]
    stamps = [hop.timestamp for hop in sender_first if hop.timestamp is not None]
    total = stamps[-1] - stamps[0] if len(stamps) >= 2 else None
    return delays, total


def trace_headers(headers: Sequence[tuple[str, str]], trusted: TrustedRelays | None = None,
                  clock_skew: timedelta = timedelta(minutes=5),
                  now: datetime | None = None) -> Trace:
    """Trace a message given its header fields as (name, value) in message order."""
    relays = trusted if trusted else None
    values = [value for name, value in headers if name.strip().lower() == "received"]
    top_first = parse_received_headers(values)
    flags_top = _trust_flags(top_first, relays)
    claims = _claims(headers)
    origin = _decide_origin(top_first, flags_top, claims, configured=relays is not None)
    sender_first = list(reversed(top_first))
    flags = list(reversed(flags_top))
    delays, total = _delays(sender_first)
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Trace(
        hops=sender_first, trusted=flags, delays=delays, total_transit=total, origin=origin,
        anomalies=find_anomalies(sender_first, flags, moment, clock_skew),
        originating_claims=claims, trust_mode="configured" if relays else "receipt",
        trusted_relays=relays,
    )


def trace_message(raw: bytes | str, trusted: TrustedRelays | None = None,
                  clock_skew: timedelta = timedelta(minutes=5),
                  now: datetime | None = None) -> Trace:
    """Trace a raw message (bytes, possibly malformed). Never raises."""
    return trace_headers(read_header_fields(raw), trusted, clock_skew=clock_skew, now=now)
