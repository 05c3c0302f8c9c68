"""The origin as an answer with reasons: provider, account and client address.

When the first external hop is a big sending provider (mail sent from a Gmail or Outlook.com
account), its address only names the provider's outbound relay. What staff need is the
provider and the account, plus the client's address where the provider shows one: in a
header it adds (X-Originating-IP), in its own submission hop below the boundary, or in an
Authentication-Results or ARC field it wrote. Those come from the sending provider, not from
the relay we trust, and are labelled so.

When the first external hop is any other server (a school's or a company's own, an ISP's, a
small webmail), the client behind it is read the same way from the hops that server and the
servers before it recorded, as long as each names the one after it (a webmail on a public
address handing to its outbound relay), and from the X-Originating-IP-style fields: the sending
side's word, labelled so, never the origin itself.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .boundary import SENDER_WRITTEN, SENDING, Boundary
from .ipclass import PUBLIC, classify_ip, normalise_ip
from .providers import Provider
from .received import ReceivedHop

if TYPE_CHECKING:
    from .trace import OriginVerdict

#: Headers in which webmail front ends and proxies name the submitting client.
#: They are written by whoever composed the message, so they are claims only.
CLAIM_HEADERS = (
    "x-originating-ip", "x-forwarded-for", "x-sender-ip", "x-yahoo-post-ip",
    "x-client-ip", "x-real-ip", "x-remote-ip", "x-source-ip", "x-aol-ip",
    "x-originating-client-ip", "x-ms-exchange-organization-originalclientipaddress",
)
_AR_NAMES = ("authentication-results", "arc-authentication-results")
_AR_CLIENT = re.compile(r"(?:client-ip|smtp\.remote-ip|policy\.iprev|sender IP is)\s*[=:]?\s*\[?([0-9A-Fa-f.:]{7,45})",
                        re.I)
_AUTHSERV = re.compile(r"^\s*(?:i\s*=\s*\d+\s*;\s*)?([^\s;]+)")
_MAX_VALUE = 8192


def _address(value: str) -> str | None:
    pairs = email.utils.getaddresses([value[:_MAX_VALUE]])
    return next((addr.lower() for _name, addr in pairs if "@" in addr), None)


def _account(sending: Provider, headers: Sequence[tuple[str, str]]) -> tuple[str | None, str | None]:
    """The sending account and where it was read: the From address when it is the provider's own
    domain, else the envelope sender (Return-Path), else the From address."""
    values: dict[str, str] = {}
    for name, value in headers:
        values.setdefault(name.strip().lower(), value)
    sender = _address(values.get("from", ""))
    envelope = _address(values.get("return-path", ""))
    if sender and sending.has_host(sender.rpartition("@")[2]):
        return sender, "From"
    if envelope:
        return envelope, "Return-Path"
    return (sender, "From") if sender else (None, None)


def _client_ips(sending: Provider, found: Boundary, top_first: Sequence[ReceivedHop],
                headers: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    found_ips: list[dict[str, Any]] = []

    def add(ip: str | None, source: str, label: str) -> None:
        if ip and classify_ip(ip) == PUBLIC and not sending.has_ip(ip) \
                and all(entry["ip"] != ip for entry in found_ips):
            found_ips.append({"ip": ip, "source": source, "label": label})

    for name, value in headers:
        lowered = name.strip().lower()
        if lowered in sending.client_ip:
            for word in re.split(r"[\s,;\[\]]+", value[:_MAX_VALUE]):
                add(normalise_ip(word), name.strip(), f"shown by {sending.name} (not verified by us)")
        elif lowered in _AR_NAMES:
            authserv = _AUTHSERV.match(value[:_MAX_VALUE])
            if authserv and sending.has_host(authserv.group(1)):
                for match in _AR_CLIENT.finditer(value[:_MAX_VALUE]):
                    add(normalise_ip(match.group(1)), name.strip(),
                        f"recorded by {sending.name} in its {name.strip()} (not verified by us)")
    for hop, role in zip(top_first, found.roles, strict=True):
        if role == SENDING and hop.from_ip and not sending.is_client(hop, same_writer=True):
            add(hop.from_ip, f"hop {hop.position}",
                f"the client {sending.name}'s server {hop.by_host or ''} recorded (not verified by us)".replace(
                    "server  ", "server "))
    return found_ips


def _linked(newer: ReceivedHop, older: ReceivedHop) -> bool:
    """The older hop was recorded by the machine the newer hop names as its client."""
    names = {name.lower().rstrip(".") for name in (newer.from_rdns, newer.from_helo) if name}
    by = (older.by_host or "").lower().rstrip(".")
    return bool(by and by in names) or bool(older.by_ip and older.by_ip == newer.from_ip)


def _sender_side_clients(boundary: int, top_first: Sequence[ReceivedHop],
                         headers: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Public client addresses the sending server's side recorded below the first external hop,
    through hops that each name the next, and in the claim fields (see the module docstring)."""
    found_ips: list[dict[str, Any]] = []
    sender = top_first[boundary].from_host or top_first[boundary].from_ip or "the sending server"

    def add(ip: str | None, source: str, label: str) -> None:
        if ip and classify_ip(ip) == PUBLIC and ip != top_first[boundary].from_ip \
                and all(entry["ip"] != ip for entry in found_ips):
            found_ips.append({"ip": ip, "source": source, "label": label})

    # The oldest public client of the linked hops: the sender's relays in between are not it.
    newer, deepest = top_first[boundary], None
    for hop in top_first[boundary + 1:]:
        if not hop.parsed_ok or not _linked(newer, hop):
            break
        if hop.from_ip and classify_ip(hop.from_ip) == PUBLIC:
            deepest = hop
        newer = hop
    if deepest is not None:
        add(deepest.from_ip, f"hop {deepest.position}",
            f"the client {deepest.by_host or 'a relay'} recorded, on {sender}'s side (not verified by us)")
    for name, value in headers:
        if name.strip().lower() in CLAIM_HEADERS:
            for word in re.split(r"[\s,;\[\]]+", value[:_MAX_VALUE]):
                add(normalise_ip(word.strip("\"'")), name.strip(),
                    f"named by the {name.strip()} field {sender}'s side wrote (not verified by us)")
    return found_ips


def describe_origin(origin: OriginVerdict, found: Boundary, top_first: Sequence[ReceivedHop],
                    headers: Sequence[tuple[str, str]]) -> None:
    """Add the provider, account, client addresses and reasons to ``origin`` (in place)."""
    if found.receiving is not None:
        origin.receiving_provider = found.receiving.name
    if found.index is not None:
        origin.reasons.append(found.why)
    boundary_hop = top_first[found.index] if found.index is not None else None
    sending = found.sending
    if sending is not None and boundary_hop is not None and origin.hop_position == boundary_hop.position:
        account, where = _account(sending, headers)
        origin.sending_provider, origin.account = sending.name, account
        origin.client_ips = _client_ips(sending, found, top_first, headers)
        said = f"the first external hop is {sending.name}'s outbound relay, so the message was sent " \
               f"from a {sending.name} account"
        said += f": {account} (from the {where} field)" if account else ""
        origin.reasons.append(said)
        for entry in origin.client_ips:
            origin.reasons.append(f"client address {entry['ip']}: {entry['label']}, from {entry['source']}")
        origin.explanation += f" {said[0].upper()}{said[1:]}."
    elif boundary_hop is not None and origin.confidence == "confirmed" and origin.hop_position == boundary_hop.position:
        origin.client_ips = _sender_side_clients(found.index or 0, top_first, headers)
        for entry in origin.client_ips:
            origin.reasons.append(f"client address {entry['ip']}: {entry['label']}, from {entry['source']}")
    forged = [hop.position for hop, role in zip(top_first, found.roles, strict=True)
              if role == SENDER_WRITTEN and found.index is not None and hop.position > found.index]
    if forged:
        which = ("hop " if len(forged) == 1 else "hops ") + ", ".join(map(str, forged))
        verb = "lies" if len(forged) == 1 else "lie"
        origin.reasons.append(f"{which} {verb} below the first external hop and was written by the sender's "
                              "side: it could be forged" if len(forged) == 1 else
                              f"{which} {verb} below the first external hop and were written by the sender's "
                              "side: they could be forged")
