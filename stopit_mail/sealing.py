"""Encrypt and decrypt reporters' identities (Fernet: AES-128-CBC with HMAC-SHA256).

The key comes from the environment variable named in `casework.identity_key_env`, else from
a key file in the data folder that `stopit init` creates with mode 0600. Losing the key makes
sealed identities unrecoverable, which is the point; back it up apart from the database.
Outgoing mail to an anonymous reporter stores its recipient as `sealed:<token>` and is
unsealed only at delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from stopit_mail.config import Settings
from stopit_mail.errors import StopitError

SEALED_PREFIX = "sealed:"


class IdentityKeyError(StopitError):
    """The key that seals identities is missing or wrong."""


@dataclass(frozen=True)
class Identity:
    """A reporter's identity as they gave it."""

    address: str
    name: str


def key_path(settings: Settings) -> Path:
    """Where the key file lives when the environment does not provide the key."""
    path = Path(settings.casework.identity_key_file)
    return path if path.is_absolute() else settings.data_path / path


def ensure_key_file(settings: Settings) -> None:
    """Create a key file (mode 0600) unless the key comes from the environment or exists."""
    if os.environ.get(settings.casework.identity_key_env):
        return
    path = key_path(settings)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key())


def _key_bytes(settings: Settings) -> bytes:
    key = os.environ.get(settings.casework.identity_key_env, "").strip().encode()
    if key:
        return key
    try:
        return key_path(settings).read_bytes().strip()
    except OSError as exc:
        raise IdentityKeyError(
            f"no identity key: set {settings.casework.identity_key_env} or create {key_path(settings)}"
        ) from exc


def _fernet(settings: Settings) -> Fernet:
    key = _key_bytes(settings)
    try:
        return Fernet(key)
    except ValueError as exc:
        raise IdentityKeyError("the identity key is not a valid Fernet key (32 url-safe base64 bytes)") from exc


def seal(settings: Settings, identity: Identity) -> str:
    """Encrypt an identity for storage."""
    payload = json.dumps({"address": identity.address, "name": identity.name}).encode()
    return _fernet(settings).encrypt(payload).decode()


def unseal(settings: Settings, token: str) -> Identity:
    """Decrypt a sealed identity (for delivery, or for an audited reveal)."""
    try:
        data = json.loads(_fernet(settings).decrypt(token.encode()))
    except InvalidToken as exc:
        raise IdentityKeyError("this identity was sealed with a different key") from exc
    return Identity(data.get("address", ""), data.get("name", ""))


def sealed_recipient(settings: Settings, address: str) -> str:
    """An outbox recipient that reveals nothing until delivery."""
    return SEALED_PREFIX + seal(settings, Identity(address, ""))


def open_recipient(settings: Settings, recipient: str) -> str:
    """The real address of an outbox recipient (sealed or plain)."""
    if recipient.startswith(SEALED_PREFIX):
        return unseal(settings, recipient.removeprefix(SEALED_PREFIX)).address
    return recipient


def recipient_key(settings: Settings, address: str) -> str:
    """A keyed hash of an address: equal for equal addresses, useless without the key."""
    secret = hashlib.sha256(b"stopit recipient key\0" + _key_bytes(settings)).digest()
    return hmac.new(secret, address.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()
