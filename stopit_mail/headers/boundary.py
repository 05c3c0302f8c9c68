"""Where the receiving side of a Received chain ends: the trust boundary, provider-aware.

Walking from the topmost (newest) hop down, trust passes to the next older hop while the
current hop's client is part of the receiving side: a configured organisation relay, a local
hand-over, the mailbox a fetchmail-style client fetched the message from, a non-public address (with no configuration), an internal relay of the provider
that wrote the hop (Microsoft 365's frontends on public 2603:10xx:: addresses, Gmail's
``by 2002:...`` hand-overs), or a mail gateway (Mimecast, Proofpoint...) handing mail on to
its customer. The last trusted hop is the boundary; its client is the first external hop.

Each hop gets a role: who wrote it, as far as can be told. Hops below the boundary were
written before the receiving side had the message: by the sending provider when its relays
recorded them, otherwise by whoever sent it ("sender-written", possibly forged).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .ipclass import PUBLIC, classify_ip
from .providers import GATEWAY, Catalog, Provider
from .received import ReceivedHop, is_local_handover
from .relays import TrustedRelays

RECEIVING, ORGANISATION, GATEWAY_ROLE, SENDING, SENDER_WRITTEN = (
    "receiving provider", "organisation relay", "gateway", "sending provider", "sender-written")


@dataclass
class Boundary:
    """The trust flags and roles of a chain (top-first), and what received it."""

    flags: list[bool]
    roles: list[str]
    index: int | None
    receiving: Provider | None
    sending: Provider | None
    why: str


def _retrieval(hop: ReceivedHop) -> bool:
    """The recipient fetched the message from their own mailbox (fetchmail, getmail: "with IMAP",
    "with POP3"): that mailbox server is the receiving side, and its hops are the ones to read."""
    return (hop.protocol or "").upper().startswith(("IMAP", "POP"))


def _client_trusted(hop: ReceivedHop, relays: TrustedRelays | None, catalog: Catalog,
                    writer: Provider | None) -> tuple[bool, str]:
    """Whether trust passes from ``hop`` to the hop before it, and the role of that one."""
    if is_local_handover(hop) or _retrieval(hop):
        return True, RECEIVING if writer else ORGANISATION
    if relays is not None and (relays.has_ip(hop.from_ip) or relays.has_host(hop.from_rdns)
                               or (relays.trust_helo and relays.has_host(hop.from_helo))):
        return True, ORGANISATION
    if writer is not None and writer.is_client(hop, same_writer=True):
        return True, GATEWAY_ROLE if writer.kind == GATEWAY else RECEIVING
    client = catalog.client_of(hop)
    if client is not None and client.kind == GATEWAY:
        return True, GATEWAY_ROLE
    if relays is None and hop.from_ip and classify_ip(hop.from_ip) != PUBLIC:
        return True, RECEIVING if writer else ORGANISATION
    return False, ""


def _start(top_first: Sequence[ReceivedHop], relays: TrustedRelays | None) -> int | None:
    if not top_first:
        return None
    if relays is None:
        return 0
    return next((i for i, hop in enumerate(top_first)
                 if relays.has_host(hop.by_host) or relays.has_ip(hop.by_ip)), None)


def find_boundary(top_first: Sequence[ReceivedHop], relays: TrustedRelays | None,
                  catalog: Catalog, header_names: Sequence[str]) -> Boundary:
    """Trust flags, roles and the boundary of a chain given top-first."""
    count = len(top_first)
    flags, roles = [False] * count, [SENDER_WRITTEN] * count
    start = _start(top_first, relays)
    if start is None:
        return Boundary(flags, roles, None, catalog.by_header_fields(list(header_names)), None,
                        "no Received field was written by a trusted relay")
    writers = [catalog.writer_of(hop) for hop in top_first]
    for i in range(start + 1):
        flags[i] = True
        roles[i] = RECEIVING if writers[i] else ORGANISATION
    i = start
    while i + 1 < count and top_first[i].parsed_ok:
        trusted, role = _client_trusted(top_first[i], relays, catalog, writers[i])
        if not trusted:
            break
        i += 1
        flags[i], roles[i] = True, (GATEWAY_ROLE if role == GATEWAY_ROLE and writers[i] else role)
    boundary = top_first[i]
    mailbox_writers = [w for w in writers[:i + 1] if w is not None and w.kind != GATEWAY]
    receiving = (mailbox_writers[-1] if mailbox_writers else None) or writers[i] \
        or catalog.by_header_fields(list(header_names))
    sending = None if is_local_handover(boundary) else catalog.client_of(boundary)
    if sending is not None and sending.kind == GATEWAY:
        sending = None
    for j in range(i + 1, count):
        if sending is not None and sending.wrote(top_first[j]):
            roles[j] = SENDING
    return Boundary(flags, roles, i, receiving, sending, _why(boundary, writers[i], receiving))


def _why(hop: ReceivedHop, writer: Provider | None, receiving: Provider | None) -> str:
    """Why this hop is the first external one, in the words staff read."""
    by = hop.by_host or "an unnamed relay"
    if writer is not None and writer.kind == GATEWAY and receiving is not None and receiving is not writer:
        return (f"first external hop, handed to {writer.name} (the gateway in front of {receiving.name}) "
                f"at {by}")
    if writer is not None and writer.is_inbound_frontend(hop.by_host):
        return f"first external hop, handed to {writer.name} at its inbound frontend {by}"
    if writer is not None:
        return f"first external hop, handed to {writer.name} at {by}"
    return f"first external hop, handed to {by}, the relay that received the message"
