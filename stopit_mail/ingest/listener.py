"""The SMTP/LMTP listener: accept mail for our mailboxes, and answer 250 only once it is stored.

Built on aiosmtpd. The handler refuses every recipient that is not one of our mailboxes or a
`local+code@domain` case alias (550 5.1.1: we are never a relay), enforces the size limit
(SIZE is advertised; 552 above it) and the per-peer limits of `ratelimit.py`, and in
`handle_DATA` hands the exact received bytes to a `RawSink`. The sink commits off the event
loop (SQLite's synchronous=FULL commit blocks for milliseconds, which would stall every other
connection), and only when the commit has returned does the client get its 250. A storage
fault answers 451 4.3.0, so the sending MTA keeps the message and retries.

In LMTP mode (behind Postfix or Exim) the reply to DATA is one line per accepted recipient,
as RFC 2033 requires; the message is stored once with all of them in its envelope.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as SMTPEnvelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail.config import Settings
from stopit_mail.errors import MessageTooLarge, StorageError
from stopit_mail.ingest import smtplog
from stopit_mail.ingest.ratelimit import ConnectionLimiter, RateLimiter
from stopit_mail.ingest.rawstore import Envelope, StoreResult, store_raw

log = logging.getLogger(__name__)

# Reply texts, named once so tests and operators can grep for them.
OK_SENDER = "250 2.1.0 Sender OK"
OK_RECIPIENT = "250 2.1.5 Recipient OK"
OK_STORED = "250 2.0.0 Message stored"
NO_SUCH_USER = "550 5.1.1 <{address}>: no such mailbox here (this server is not a relay)"
TOO_BIG = "552 5.3.4 Message exceeds the size limit of {limit} bytes"
STORAGE_FAILED = "451 4.3.0 Temporary storage failure, please try again later"
TOO_MANY_MESSAGES = "451 4.7.1 Too many messages from your address, please try again later"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections from your address, closing"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, please try again later"


class RawSink(Protocol):
    """Durably stores one message; returns only after the commit (or raises)."""

    async def store(self, content: bytes, envelope: Envelope) -> StoreResult: ...


@dataclass
class ThreadedSink:
    """`store_raw` in a worker thread: one transaction and one commit per message."""

    factory: sessionmaker[Session]
    max_bytes: int | None = None

    async def store(self, content: bytes, envelope: Envelope) -> StoreResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, store_raw, self.factory, content, envelope, self.max_bytes)


def peer_ip(session: SMTPSession) -> str:
    """The client's IP address (the key of every per-peer limit)."""
    peer = session.peer
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer or "unknown")


def _clean(address: str) -> str:
    # With SMTPUTF8 aiosmtpd hands us surrogate-escaped text for invalid UTF-8; make it storable.
    return address.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass
class Limits:
    """The shared per-peer limiters, plus the set of open sessions (for shutdown)."""

    connections: ConnectionLimiter
    messages: RateLimiter
    open_sessions: set[Any] = field(default_factory=set)
    stores_in_flight: int = 0
    # Our own MTA in front (Postfix on 127.0.0.1) relays everybody's mail: never throttle it.
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def is_exempt(self, ip: str) -> bool:
        """True for a peer in server.unlimited_peers."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.exempt)


class MailboxHandler:
    """aiosmtpd handler: recipient policy, rate limit at MAIL FROM, durable store at DATA."""

    def __init__(self, settings: Settings, sink: RawSink, limits: Limits, protocol: str = "smtp",
                 on_stored: Callable[[StoreResult], None] | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self.limits = limits
        self.protocol = protocol
        self.on_stored = on_stored

    async def handle_MAIL(self, server: SMTP, session: SMTPSession, envelope: SMTPEnvelope,
                          address: str, mail_options: list[str]) -> str:
        if not self.limits.is_exempt(peer_ip(session)) and not self.limits.messages.take(peer_ip(session)):
            log.warning("rate limit: refusing a message from %s", peer_ip(session))
            return TOO_MANY_MESSAGES
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return OK_SENDER

    async def handle_RCPT(self, server: SMTP, session: SMTPSession, envelope: SMTPEnvelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.settings.organisation_for(address) is None:
            return NO_SUCH_USER.format(address=_clean(address)[:200])
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return OK_RECIPIENT

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: SMTPEnvelope) -> str:
        status = await self._store(session, envelope)
        if self.protocol == "lmtp":
            # RFC 2033: one reply per accepted recipient; all share the fate of the one copy.
            return "\r\n".join(status for _ in envelope.rcpt_tos)
        return status

    async def _store(self, session: SMTPSession, envelope: SMTPEnvelope) -> str:
        content = envelope.original_content
        if content is None:  # aiosmtpd always sets it with decode_data=False; be safe anyway
            return STORAGE_FAILED
        mail_from = _clean(envelope.mail_from or "")
        raw_envelope = Envelope(
            source=self.protocol,
            # aiosmtpd reports the null reverse-path as "<>"; store it as the empty address.
            mail_from="" if mail_from == "<>" else mail_from,
            rcpt_to=[_clean(r) for r in envelope.rcpt_tos],
            peer=peer_ip(session),
        )
        self.limits.stores_in_flight += 1
        try:
            result = await self.sink.store(content, raw_envelope)
        except MessageTooLarge:
            return TOO_BIG.format(limit=self.settings.limits.max_message_bytes)
        except StorageError as exc:
            log.error("could not store a message from %s: %s", raw_envelope.peer, exc)
            return STORAGE_FAILED
        except Exception:
            # Whatever went wrong, the message is not safe: the sender must keep it.
            log.exception("unexpected error storing a message from %s", raw_envelope.peer)
            return STORAGE_FAILED
        finally:
            self.limits.stores_in_flight -= 1
        if self.on_stored is not None:
            self.on_stored(result)
        return OK_STORED

    async def handle_exception(self, error: Exception) -> str:
        log.exception("SMTP session error", exc_info=error)
        return "451 4.3.0 Internal error, please try again later"


class _GuardedMixin:
    """Per-peer connection limit and open-session tracking for aiosmtpd's SMTP and LMTP.

    aiosmtpd has no connection hook, so this overrides `connection_made`, `connection_lost`
    and the private `_handle_client` coroutine (stable across aiosmtpd 1.4.x): a peer over
    its limit gets 421 instead of the greeting, and its slot is never counted.
    """

    limits: Limits
    _slot: bool = False
    _ip: str = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # STARTTLS calls connection_made again on the same protocol: count the first call only.
        first = getattr(self, "transport", None) is None
        super().connection_made(transport)  # type: ignore[misc]
        if first:
            peer = transport.get_extra_info("peername")
            self._ip = str(peer[0]) if isinstance(peer, tuple) else str(peer)
            self._exempt = self.limits.is_exempt(self._ip)
            self._slot = self._exempt or self.limits.connections.acquire(self._ip)
            self.limits.open_sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        if self._slot:
            self._slot = False
            if not getattr(self, "_exempt", False):
                self.limits.connections.release(self._ip)
        self.limits.open_sessions.discard(self)
        super().connection_lost(error)  # type: ignore[misc]

    async def _handle_client(self) -> None:
        if not self._slot:
            log.warning("connection limit: refusing %s", self._ip)
            await self.push(TOO_MANY_CONNECTIONS)  # type: ignore[attr-defined]
            self.transport.close()  # type: ignore[attr-defined]
            return
        await super()._handle_client()  # type: ignore[misc]


class GuardedSMTP(_GuardedMixin, SMTP):
    """aiosmtpd's SMTP with our per-peer connection limit."""


class GuardedLMTP(_GuardedMixin, LMTP):
    """aiosmtpd's LMTP with our per-peer connection limit and per-recipient error replies."""

    async def push(self, status: Any) -> None:
        # aiosmtpd answers an oversized or malformed DATA once; LMTP owes one reply per
        # recipient, or the client waits forever for the missing ones.
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else str(status)
        envelope = self.envelope
        if (text.startswith(("552 Error: Too much mail data", "500 Line too long"))
                and envelope is not None and len(envelope.rcpt_tos) > 1):
            status = "\r\n".join(text for _ in envelope.rcpt_tos)
        await super().push(status)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The STARTTLS context from the configured certificate and key, or None."""
    server = settings.server
    if not server.tls_certificate:
        return None

    def resolve(name: str) -> str:
        path = Path(name)
        return str(path if path.is_absolute() else settings.base_dir / path)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(resolve(server.tls_certificate), resolve(server.tls_key))
    return context


def protocol_factory(settings: Settings, handler: MailboxHandler, limits: Limits,
                     loop: asyncio.AbstractEventLoop) -> Callable[[], SMTP]:
    """A factory of listener protocol instances configured from the settings."""
    smtplog.install()  # `--verbose` logs every command: with addresses hashed, never in clear
    cls: type[SMTP] = GuardedLMTP if settings.server.protocol == "lmtp" else GuardedSMTP
    # Resolve the greeting name once: aiosmtpd would otherwise call getfqdn() per connection.
    hostname = settings.server.hostname or socket.getfqdn()
    context = tls_context(settings)

    def make() -> SMTP:
        instance = cls(
            handler, data_size_limit=settings.limits.max_message_bytes, enable_SMTPUTF8=True,
            decode_data=False, hostname=hostname, ident="stopit-mail", tls_context=context,
            loop=loop,
        )
        instance.limits = limits  # type: ignore[attr-defined]
        return instance

    return make


def make_limits(settings: Settings) -> Limits:
    """Fresh per-peer limiters from the settings."""
    exempt = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in settings.server.unlimited_peers)
    return Limits(ConnectionLimiter(settings.server.max_connections_per_peer),
                  RateLimiter(settings.server.max_messages_per_peer_per_minute), exempt=exempt)
