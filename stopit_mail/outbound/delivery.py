"""Hand a composed message to the world: an SMTP relay, or a local Maildir.

With no relay configured, mail lands in `<data_dir>/outbox` as a Maildir, so a newcomer can
read exactly what would have been sent. The Maildir file is named after the outbox row, so a
crash between writing and recording "sent" rewrites the same file instead of duplicating it.
SMTP errors are sorted into temporary (retry) and permanent (give up, tell the case).
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stopit_mail.config import Settings, split_host_port


class DeliveryError(Exception):
    """A delivery attempt failed; `permanent` says whether retrying can help."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    """Something that delivers bytes to recipients, raising DeliveryError on failure."""

    def deliver(self, outbox_id: int, envelope_from: str, recipients: list[str], content: bytes) -> None: ...


@dataclass
class MaildirTransport:
    """Writes each message to new/ of a Maildir, atomically (tmp/ then rename)."""

    root: Path

    def deliver(self, outbox_id: int, envelope_from: str, recipients: list[str], content: bytes) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        name = f"stopit-outbox-{outbox_id:010d}.{socket.gethostname().replace('/', '_')}"
        tmp = self.root / "tmp" / name
        header = f"X-Stopit-Envelope-From: <{envelope_from}>\r\nX-Stopit-Envelope-To: {', '.join(recipients)}\r\n"
        with open(tmp, "wb") as handle:
            handle.write(header.encode() + content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / "new" / name)


@dataclass
class RelayTransport:
    """Delivers through an SMTP relay with optional STARTTLS and AUTH."""

    host: str
    port: int
    starttls: bool = True
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = None

    def deliver(self, outbox_id: int, envelope_from: str, recipients: list[str], content: bytes) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
                client.ehlo()
                if self.starttls and client.has_extn("starttls"):
                    client.starttls(context=self.tls_context or ssl.create_default_context())
                    client.ehlo()
                if self.username:
                    client.login(self.username, self.password)
                options: list[str] = []
                if not all(a.isascii() for a in [envelope_from, *recipients]):
                    # An internationalised address (zoë@...) needs SMTPUTF8 (RFC 6531).
                    if not client.has_extn("smtputf8"):
                        raise DeliveryError("a recipient address is internationalised and the relay does not "
                                            "offer SMTPUTF8", True)
                    options.append("SMTPUTF8")
                refused = client.sendmail(envelope_from, recipients, content, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"recipients refused: {exc.recipients}", all(c >= 500 for c in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{exc.smtp_code} {exc.smtp_error!r}", exc.smtp_code >= 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{exc.__class__.__name__}: {exc}", False) from exc
        except UnicodeError as exc:
            raise DeliveryError(f"cannot encode the message for this relay: {exc.__class__.__name__}", True) from exc
        if refused:
            raise DeliveryError(f"some recipients refused: {refused}", False)


def transport_for(settings: Settings) -> Transport:
    """The configured relay, or the outbox Maildir when no relay is set."""
    outbound = settings.outbound
    if not outbound.relay:
        path = Path(outbound.maildir)
        return MaildirTransport(path if path.is_absolute() else settings.data_path / path)
    host, port = split_host_port(outbound.relay, 25)
    password = os.environ.get(outbound.password_env, "") if outbound.username else ""
    return RelayTransport(host, port, outbound.starttls, outbound.username, password)
