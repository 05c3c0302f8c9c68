"""The origin as an answer with reasons: provider, account and client address.

When the first external hop is a big sending provider (mail sent from a Gmail or Outlook.com
account), its address only names the provider's outbound relay. What staff need is the
provider and the account, plus the client's address where the provider shows one: in a
header it adds (X-Originating-IP), in its own submission hop below the boundary, or in an
Authentication-Results or ARC field it wrote. Those come from the sending provider, not from
the relay we trust, and are labelled so.
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
    forged = [hop.position for hop, role in zip(top_first, found.roles, strict=True)
              if role == SENDER_WRITTEN and found.index is not None and hop.position > found.index]
    if forged:
        which = ("hop " if len(forged) == 1 else "hops ") + ", ".join(map(str, forged))
        verb = "lies" if len(forged) == 1 else "lie"
        origin.reasons.append(f"{which} {verb} below the first external hop and was written by the sender's "
                              "side: it could be forged" if len(forged) == 1 else
                              f"{which} {verb} below the first external hop and were written by the sender's "
                              "side: they could be forged")
