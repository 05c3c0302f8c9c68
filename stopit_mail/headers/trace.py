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
  local (loopback, ``localhost``, a hop with no ``from`` host), or the client
  is an internal relay of the big provider that wrote the hop, or a mail gateway
  handing mail to its customer (from the shipped provider data, see
  :mod:`stopit_mail.headers.boundary`). With no configuration a client with a
  non-public address also passes trust on: that is the receiving provider's own
  internal network.
* The last trusted hop is the boundary. Its client is the origin, recorded by a
  relay we trust: ``confirmed`` (without configuration only for a public
  address; a private one just names a machine inside someone else's network).
  Every hop below it could have been written by the sender: ``untrusted-hop``.

When the first external hop is itself a big sending provider (Gmail, Outlook.com...),
the origin names that provider, the account and any client address the provider
shows (:mod:`stopit_mail.headers.origin`); behind any other server, the client its side
recorded in linked hops below it and in X-Originating-IP-style fields, as its word only.

If the boundary gives no usable address, the origin falls back to the newest
untrusted hop with a public client address, then to webmail headers such as
X-Originating-IP (``claimed``); failing both it is ``unknown``.

The anomaly checks on the chain live in :mod:`stopit_mail.headers.anomalies`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .anomalies import ANOMALY_CODES as ANOMALY_CODES
from .anomalies import Anomaly, find_anomalies
from .anomalies import registered_domain as registered_domain
from .boundary import Boundary, find_boundary
from .fields import read_header_fields
from .ipclass import PUBLIC, classify_ip, normalise_ip
from .origin import CLAIM_HEADERS as CLAIM_HEADERS
from .origin import describe_origin
from .providers import shipped_catalog
from .received import ReceivedHop, is_local_handover, parse_received_headers
from .relays import TrustedRelays as TrustedRelays


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
    #: The provider that received the evidence, and the one the first external hop belongs
    #: to when it is a big sending provider (then ``account`` and ``client_ips`` say more).
    receiving_provider: str | None = None
    sending_provider: str | None = None
    account: str | None = None
    client_ips: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["client_ips"] = [dict(entry) for entry in self.client_ips]
        data["reasons"] = list(self.reasons)
        return data


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
    #: Who wrote each hop, as far as can be told (see :mod:`stopit_mail.headers.boundary`).
    roles: list[str] = field(default_factory=list)
    providers_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-serialisable; keys are stable for the CLI and storage."""
        hops = []
        roles = self.roles or [""] * len(self.hops)
        for hop, trusted, delay, role in zip(self.hops, self.trusted, self.delays, roles, strict=True):
            data = hop.to_dict()
            data["trusted"] = trusted
            data["written_by"] = role or None
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
            "providers_version": self.providers_version,
        }


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


# Address classes no connection can come from (example ranges, multicast, reserved, malformed).
_NOT_ROUTED = frozenset({"documentation", "multicast", "reserved", "unspecified", "invalid"})


def _decide_origin(top_first: list[ReceivedHop], found: Boundary,
                   claims: list[dict[str, Any]], configured: bool) -> OriginVerdict:
    flags, boundary = found.flags, found.index
    hop = top_first[boundary] if boundary is not None else None
    network_client = hop is not None and not is_local_handover(hop)
    if hop is not None and network_client and hop.from_ip:
        ip_class = classify_ip(hop.from_ip)
        # A non-public client is a useful fact inside our own (configured)
        # network; in someone else's it only names their internal machine.
        if ip_class == PUBLIC or configured:
            where = "" if ip_class == PUBLIC else f" (a {ip_class} address inside that network)"
            return _origin_from_hop(hop, "confirmed", (
                f"{hop.from_ip}{where}: {found.why}, which we trust; hop {hop.position} records it."))
    claimed = _claimed_origin(top_first, flags, claims)
    if claimed is not None:
        return claimed
    if hop is not None and network_client and (hop.from_ip or hop.from_host):
        ip_class = classify_ip(hop.from_ip) if hop.from_ip else ""
        if not hop.from_ip:
            what = f"the name {hop.from_host}, with no address"
        elif ip_class in _NOT_ROUTED:
            what = (f"the {ip_class} address {hop.from_ip}, which no machine on the Internet can have: "
                    "made up, anonymised or mistyped")
        else:
            what = (f"the {ip_class} address {hop.from_ip}, which names a machine inside the receiving "
                    "network, not an Internet sender")
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
    catalog = shipped_catalog()
    found = find_boundary(top_first, relays, catalog, [name for name, _value in headers])
    claims = _claims(headers)
    origin = _decide_origin(top_first, found, claims, configured=relays is not None)
    describe_origin(origin, found, top_first, headers)
    sender_first = list(reversed(top_first))
    flags = list(reversed(found.flags))
    delays, total = _delays(sender_first)
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Trace(
        hops=sender_first, trusted=flags, delays=delays, total_transit=total, origin=origin,
        anomalies=find_anomalies(sender_first, flags, moment, clock_skew),
        originating_claims=claims, trust_mode="configured" if relays else "receipt",
        trusted_relays=relays, roles=list(reversed(found.roles)), providers_version=catalog.version,
    )


def trace_message(raw: bytes | str, trusted: TrustedRelays | None = None,
                  clock_skew: timedelta = timedelta(minutes=5),
                  now: datetime | None = None) -> Trace:
    """Trace a raw message (bytes, possibly malformed). Never raises."""
    return trace_headers(read_header_fields(raw), trusted, clock_skew=clock_skew, now=now)
