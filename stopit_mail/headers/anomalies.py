"""Anomaly checks on a traced Received chain: what in it staff should look at twice.

Each finding is an :class:`Anomaly` with a stable code (:data:`ANOMALY_CODES`),
the hop it concerns and one plain sentence. The checks read hops only: missing
or future dates, clocks running backwards, a hop whose client does not match
the relay that recorded the hop before it (a chain break), a HELO address that
differs from the connecting address, and hops below the trusted boundary.
:mod:`stopit_mail.headers.trace` decides trust and the origin, then asks
:func:`find_anomalies` for these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .ipclass import normalise_ip
from .received import ReceivedHop, is_local_handover

#: Anomaly codes, with the severity each is reported at.
ANOMALY_CODES = {
    "no-received-headers": "warning",
    "unparseable-hop": "warning",
    "missing-date": "info",
    "future-date": "warning",
    "time-reversal": "warning",
    "chain-break": "warning",
    "helo-ip-mismatch": "info",
    "untrusted-hop": "info",
}

# Second-level labels under which registrations happen (example.co.uk), used
# by the registered-domain comparison in the absence of a public suffix list.
_SECOND_LEVEL = {"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go", "ltd", "plc"}

# Large providers hand mail between their own domains; a hand-over inside one
# of these groups is not a break in the chain.
_SAME_OPERATOR = (
    {"outlook.com", "office365.com", "exchangelabs.com", "hotmail.com", "live.com"},
    {"google.com", "gmail.com", "googlemail.com", "1e100.net"},
    {"yahoo.com", "yahoo.net", "yahoodns.net", "aol.com"},
    {"zoho.com", "zohomail.com"},
    {"amazonses.com", "amazonaws.com"},
    {"icloud.com", "me.com", "apple.com"},
    {"pphosted.com", "ppops.net", "ppe-hosted.com"},
    {"mimecast.com", "mimecast-offshore.com"},
    {"messagingengine.com", "fastmail.com"},
)


@dataclass
class Anomaly:
    """Something in the chain that staff should know about, in one sentence."""

    code: str
    hop_position: int | None
    explanation: str
    severity: str = "info"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "hop_position": self.hop_position,
                "severity": self.severity, "explanation": self.explanation}


def registered_domain(host: str) -> str:
    """A best-effort registered domain (``mail.example.co.uk`` -> ``example.co.uk``)."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _names_match(a: str, b: str) -> bool | None:
    """Same host or same registered domain; None when a short name makes it unclear."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if a == b:
        return True
    if "." not in a or "." not in b:
        # Internal relays call themselves "mail" or "lams18"; a neighbour may
        # know them by any name, so a mismatch proves nothing.
        return True if a.split(".")[0] == b.split(".")[0] else None
    domains = {registered_domain(a), registered_domain(b)}
    return len(domains) == 1 or any(domains <= group for group in _SAME_OPERATOR)


def _duration(delta: timedelta) -> str:
    """'3 h 2 min 5 s' for a (positive) timedelta, for explanations."""
    seconds = int(abs(delta.total_seconds()))
    parts = [(seconds // 86400, "d"), (seconds % 86400 // 3600, "h"),
             (seconds % 3600 // 60, "min"), (seconds % 60, "s")]
    return " ".join(f"{value} {unit}" for value, unit in parts if value) or "0 s"


def _chain_match(older: ReceivedHop, newer: ReceivedHop) -> bool | None:
    """Does ``newer``'s client match ``older``'s recorder? None = cannot tell."""
    if not newer.has_from_clause or not older.parsed_ok or not newer.parsed_ok:
        return None
    if is_local_handover(newer):
        return True
    by_names = [n for n in (older.by_host,) if n and not normalise_ip(n)]
    by_ips = {ip for ip in (older.by_ip, normalise_ip(older.by_host)) if ip}
    from_names = [n for n in (newer.from_rdns, newer.from_helo) if n and not normalise_ip(n)]
    if not (by_names or by_ips) or not (from_names or newer.from_ip):
        return None
    if newer.from_ip and newer.from_ip in by_ips:
        return True
    verdicts = [_names_match(a, b) for a in by_names for b in from_names]
    if any(verdicts):
        return True
    return None if None in verdicts or not verdicts else False


def _helo_ip(helo: str | None) -> str | None:
    text = (helo or "").strip().strip("[]?").strip()
    return normalise_ip(text) if text else None


def _hop_anomalies(hop: ReceivedHop, trusted: bool, now: datetime,
                   skew: timedelta) -> list[Anomaly]:
    found: list[Anomaly] = []
    pos = hop.position
    if not hop.parsed_ok:
        found.append(Anomaly("unparseable-hop", pos, f"Hop {pos} could not be read: "
                             f"{'; '.join(hop.problems)}."))
    elif hop.timestamp is None:
        found.append(Anomaly("missing-date", pos, f"Hop {pos} carries no readable date."))
    if hop.timestamp is not None and hop.timestamp > now + skew:
        found.append(Anomaly("future-date", pos,
                             f"Hop {pos} is dated {hop.timestamp.isoformat()}, in the future."))
    claimed = _helo_ip(hop.from_helo)
    if claimed and hop.from_ip and claimed != hop.from_ip:
        found.append(Anomaly("helo-ip-mismatch", pos, (
            f"Hop {pos}: the client greeted as {claimed} but connected from {hop.from_ip} "
            "(often NAT, sometimes deception).")))
    if not trusted:
        found.append(Anomaly("untrusted-hop", pos, (
            f"Hop {pos} was written before the message reached a trusted relay; "
            "the sender could have forged it.")))
    return found


def find_anomalies(sender_first: list[ReceivedHop], flags: list[bool], now: datetime,
               skew: timedelta) -> list[Anomaly]:
    found: list[Anomaly] = []
    if not sender_first:
        found.append(Anomaly("no-received-headers", None,
                             "The message has no Received headers at all."))
    previous: ReceivedHop | None = None
    for index, hop in enumerate(sender_first):
        found.extend(_hop_anomalies(hop, flags[index], now, skew))
        if previous is not None and previous.timestamp and hop.timestamp \
                and hop.timestamp < previous.timestamp - skew:
            found.append(Anomaly("time-reversal", hop.position, (
                f"Hop {hop.position} is dated {_duration(hop.timestamp - previous.timestamp)} "
                f"earlier than hop {previous.position}, which comes before it in the chain "
                f"(allowed clock skew {_duration(skew)}).")))
        if hop.timestamp is not None:
            previous = hop
        if index and _chain_match(sender_first[index - 1], hop) is False:
            older = sender_first[index - 1]
            found.append(Anomaly("chain-break", older.position, (
                f"Hop {older.position} was recorded by {older.by_host or older.by_ip}, but hop "
                f"{hop.position} got the message from "
                f"{hop.from_rdns or hop.from_helo or hop.from_ip}.")))
    for anomaly in found:
        anomaly.severity = ANOMALY_CODES.get(anomaly.code, "info")
    return found
