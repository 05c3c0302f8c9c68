"""Seal reporters' identities and message bytes with a public key; only reveals need the secret.

Sealing is envelope encryption: each value gets a fresh X25519 key pair, whose shared secret
with the installation's public key (HKDF-SHA256) keys AES-256-GCM. Sealing therefore needs only
the public key, which is kept in the database (`identity_keys`) and in `identity.pub` next to
the secret key file. A lost or corrupt secret key means "cannot reveal, cannot write to
anonymous reporters", loudly, never "cannot accept, process or page" (non-negotiable 4).

The secret key is a Fernet-format key (32 url-safe base64 bytes) from the environment variable
named in `casework.identity_key_env`, else the key file `stopit init` creates with mode 0600;
those 32 bytes are the X25519 private key, so keys made before this scheme keep working and
identities sealed with Fernet by earlier versions still open. Nothing here ever creates a key
silently: only `create_key` does, called by `stopit init` and `stopit key rotate`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from stopit_mail.config import Settings
from stopit_mail.errors import StopitError

SEALED_PREFIX = "sealed:"
ENVELOPE_PREFIX = "sealed-envelope:"
_TEXT_TAG = "x1:"
BYTES_MAGIC = b"STOPIT-SEALED-1\n"
_INFO = b"stopit-mail identity sealing v1"


class IdentityKeyError(StopitError):
    """The key that seals identities is missing, corrupt or not the one a value was sealed with."""


@dataclass(frozen=True)
class Identity:
    """A reporter's identity as they gave it."""

    address: str
    name: str
    # Other addresses (with display names) that are theirs: the evidence's recipients.
    others: tuple[tuple[str, str], ...] = ()


def key_path(settings: Settings) -> Path:
    """Where the secret key file lives when the environment does not provide the key."""
    return _key_path(settings.casework.identity_key_file, settings.data_path)


@lru_cache(maxsize=64)
def _key_path(key_file: str, data_path: Path) -> Path:
    # Built once per configuration: the worker needs the key twice per message, and building
    # the path cost more than checking the file (a stat). The same object each time also keeps
    # its hash, which the kept key file bytes (`_KEY_FILES`) are looked up by.
    path = Path(key_file)
    return path if path.is_absolute() else data_path / path


def public_key_path(settings: Settings) -> Path:
    """The public key file next to the secret one (`identity.pub`)."""
    path = key_path(settings)
    return path.with_name(path.stem + ".pub")


def key_id_of(public: bytes) -> str:
    """A short, stable name of a public key (16 hex digits), stored with every sealed value."""
    return hashlib.sha256(public).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode())


@lru_cache(maxsize=8)
def _private_from_text(text: bytes) -> X25519PrivateKey:
    try:
        raw = base64.urlsafe_b64decode(text)
    except ValueError as exc:
        raise IdentityKeyError("the identity key is corrupt (not url-safe base64)") from exc
    if len(raw) != 32:
        raise IdentityKeyError("the identity key is corrupt (expected 32 bytes of url-safe base64)")
    return X25519PrivateKey.from_private_bytes(raw)


# The key file's bytes as last read, by path, with the file's identity then (device, inode,
# size, modification and change times): the worker needs the key several times per message,
# and one stat costs a fraction of opening and reading the file. Any rewrite, replacement,
# chmod or removal of the file changes the identity (or fails the stat), so the file is read
# again (or the key reported missing) exactly as if it had never been kept. File times tick
# coarsely (a few milliseconds), so a file changed less than `_SETTLED_NS` ago is read every
# time: a rewrite of the same size within one tick cannot then go unseen (git's "racy clean").
_KEY_FILES: dict[Path, tuple[tuple[int, int, int, int, int], bytes]] = {}
_SETTLED_NS = 2_000_000_000


def _key_file_bytes(path: Path) -> bytes:
    """The stripped bytes of the key file at `path` (raises OSError like reading it would)."""
    stat = path.stat()
    identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    kept = _KEY_FILES.get(path)
    if kept is not None and kept[0] == identity:
        return kept[1]
    text = path.read_bytes().strip()
    if time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) > _SETTLED_NS:
        _KEY_FILES[path] = (identity, text)
    else:
        _KEY_FILES.pop(path, None)
    return text


def secret_key_text(settings: Settings) -> bytes:
    """The secret key as stored; raises IdentityKeyError when it is missing or unreadable."""
    key = os.environ.get(settings.casework.identity_key_env, "").strip().encode()
    if key:
        return key
    path = key_path(settings)
    try:
        return _key_file_bytes(path)
    except OSError as exc:
        _KEY_FILES.pop(path, None)
        raise IdentityKeyError(
            f"no identity key: set {settings.casework.identity_key_env} or restore {path} "
            "from your backup (sealed identities cannot be revealed or written to until then)") from exc


def private_key(settings: Settings) -> X25519PrivateKey:
    """The secret key (only reveals, delivery to anonymous reporters and rotation need it)."""
    return _private_from_text(secret_key_text(settings))


def public_bytes(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    """Raw 32 public bytes of a key (or of a private key's public half)."""
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key(settings: Settings) -> bytes:
    """The public key sealing uses: `identity.pub` (kept equal to the database's active key at
    start-up), else the secret key's public half."""
    try:
        return _unb64(_key_file_bytes(public_key_path(settings)).decode("ascii"))
    except (OSError, ValueError):
        pass
    try:
        return public_bytes(private_key(settings))
    except IdentityKeyError as exc:
        raise IdentityKeyError(
            f"no identity key and no public key at {public_key_path(settings)}: start the service "
            "(it restores the public key from the database) or restore the key backup") from exc


def write_public_key(settings: Settings, public: bytes) -> None:
    """Write `identity.pub` (public: no secrecy needed, but it must match the database)."""
    path = public_key_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_b64(public) + "\n", encoding="ascii")


def create_key(settings: Settings, replace: bool = False) -> bytes:
    """Write a new secret key file (mode 0600) and its public key; returns the public key.

    Only `stopit init` (no key yet) and `stopit key rotate` (replace=True) call this.
    """
    path = key_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = Fernet.generate_key()
    if replace:
        tmp = path.with_name(path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text)
    public = public_bytes(_private_from_text(text))
    write_public_key(settings, public)
    return public


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO).derive(shared)


def seal_with(public: bytes, data: bytes) -> bytes:
    """key id (16) + ephemeral public (32) + nonce (12) + AES-GCM ciphertext of `data`."""
    return seal_many(public, data)[0]


def seal_many(public: bytes, *values: bytes) -> list[bytes]:
    """`seal_with` for several values at the cost of one key agreement (the listener seals a
    message and its envelope together): one ephemeral key, a fresh random nonce per value, so
    each result opens on its own with `open_with`."""
    ephemeral = X25519PrivateKey.generate()
    eph_public = public_bytes(ephemeral)
    aead = AESGCM(_derive(ephemeral.exchange(X25519PublicKey.from_public_bytes(public)), eph_public, public))
    head = key_id_of(public).encode() + eph_public
    sealed = []
    for data in values:
        nonce = os.urandom(12)
        sealed.append(head + nonce + aead.encrypt(nonce, data, None))
    return sealed


def previous_key(settings: Settings, key_id: str) -> X25519PrivateKey | None:
    """The previous secret key (kept by `stopit key rotate` beside the new one) with this id.

    A message the listener sealed with the old public key just as the key was rotated still
    opens: nothing accepted with a 250 may become unreadable.
    """
    path = key_path(settings)
    for candidate in sorted(path.parent.glob(f"{path.name}.*.previous"), reverse=True):
        try:
            secret = _private_from_text(candidate.read_bytes().strip())
        except (OSError, IdentityKeyError):
            continue
        if key_id_of(public_bytes(secret)) == key_id:
            return secret
    return None


def open_with(secret: X25519PrivateKey, blob: bytes, settings: Settings | None = None) -> bytes:
    """Open what `seal_with` produced for this secret key's public half (or, given `settings`,
    for a previous key kept by a rotation)."""
    public = public_bytes(secret)
    key_id = blob[:16].decode("ascii", "replace")
    if key_id != key_id_of(public):
        older = previous_key(settings, key_id) if settings is not None else None
        if older is None:
            raise IdentityKeyError(f"sealed with key {key_id}, but the identity key in use is {key_id_of(public)}")
        secret, public = older, public_bytes(older)
    eph_public, nonce, body = blob[16:48], blob[48:60], blob[60:]
    key = _derive(secret.exchange(X25519PublicKey.from_public_bytes(eph_public)), eph_public, public)
    try:
        return AESGCM(key).decrypt(nonce, body, None)
    except InvalidTag as exc:
        raise IdentityKeyError("a sealed value does not open with the identity key (corrupt or tampered)") from exc


def seal(settings: Settings, identity: Identity) -> str:
    """Encrypt an identity for storage (public key only)."""
    payload = json.dumps({"address": identity.address, "name": identity.name,
                          "others": [list(o) for o in identity.others]}).encode()
    return _TEXT_TAG + _b64(seal_with(public_key(settings), payload))


def unseal(settings: Settings, token: str) -> Identity:
    """Decrypt a sealed identity (for delivery, or for an audited reveal); needs the secret key."""
    if token.startswith(_TEXT_TAG):
        data = json.loads(open_with(private_key(settings), _unb64(token.removeprefix(_TEXT_TAG)), settings))
    else:
        try:  # sealed by an earlier version with Fernet and the same key
            data = json.loads(Fernet(secret_key_text(settings)).decrypt(token.encode()))
        except (InvalidToken, ValueError) as exc:
            raise IdentityKeyError("this identity was sealed with a different key") from exc
    others = tuple((str(o[0]), str(o[1])) for o in data.get("others", []) if isinstance(o, list) and len(o) == 2)
    return Identity(data.get("address", ""), data.get("name", ""), others)


def is_sealed_bytes(content: bytes | None) -> bool:
    """True for message bytes sealed at rest."""
    return bool(content) and content[: len(BYTES_MAGIC)] == BYTES_MAGIC  # type: ignore[index]


def seal_bytes(settings: Settings, content: bytes) -> bytes:
    """Message bytes sealed at rest. Always seals what it is given: bytes as received can begin
    with the seal marker themselves (any sender can write it), so "already sealed" cannot be told
    from the bytes alone, and callers pass plaintext (opened in memory)."""
    return BYTES_MAGIC + seal_with(public_key(settings), content)


def readable_at_rest(settings: Settings, content: bytes) -> bytes:
    """Plaintext bytes in the form they may be stored readable: as they are, unless they begin
    with the seal marker, when they are sealed instead so no reader takes them for sealed bytes
    and fails to open them (raises IdentityKeyError without a key, like `seal_bytes`)."""
    return seal_bytes(settings, content) if is_sealed_bytes(content) else content


def open_bytes(settings: Settings, content: bytes) -> bytes:
    """Message bytes as received (opens sealed ones in memory; needs the secret key)."""
    if not is_sealed_bytes(content):
        return content
    return open_with(private_key(settings), content[len(BYTES_MAGIC):], settings)


def envelope_bytes(mail_from: str | None, peer: str | None) -> bytes:
    """What `seal_envelope` seals: the envelope sender and peer of a stored message."""
    return json.dumps({"mail_from": mail_from, "peer": peer}).encode()


def envelope_text(sealed: bytes) -> str:
    """The `mail_from` column value of a sealed envelope."""
    return ENVELOPE_PREFIX + _b64(sealed)


def seal_envelope(public: bytes, mail_from: str | None, peer: str | None) -> str:
    """A stored message's envelope sender and peer, sealed in one value (the `mail_from` column)."""
    return envelope_text(seal_with(public, envelope_bytes(mail_from, peer)))


def is_sealed_envelope(mail_from: str | None) -> bool:
    """True for an envelope sealed at the 250 (see `seal_envelope`)."""
    return bool(mail_from) and mail_from.startswith(ENVELOPE_PREFIX)  # type: ignore[union-attr]


def open_envelope(settings: Settings, mail_from: str | None, peer: str | None) -> tuple[str | None, str | None]:
    """The envelope sender and peer as received (opened in memory when sealed; needs the secret key)."""
    if not is_sealed_envelope(mail_from):
        return mail_from, peer
    blob = _unb64((mail_from or "").removeprefix(ENVELOPE_PREFIX))
    data = json.loads(open_with(private_key(settings), blob, settings))
    return data.get("mail_from"), data.get("peer")


def sealed_recipient(settings: Settings, address: str) -> str:
    """An outbox recipient that reveals nothing until delivery."""
    return SEALED_PREFIX + seal(settings, Identity(address, ""))


def open_recipient(settings: Settings, recipient: str) -> str:
    """The real address of an outbox recipient (sealed or plain)."""
    if recipient.startswith(SEALED_PREFIX):
        return unseal(settings, recipient.removeprefix(SEALED_PREFIX)).address
    return recipient


def recipient_key(settings: Settings, address: str) -> str:
    """A keyed hash of an address (or "@domain"): equal for equal inputs, useless without the key.

    Keyed with the secret key; with the secret key lost it falls back to the public key, so rate
    limits keep counting (a weaker hash, for as long as the key is missing).
    """
    try:
        material = secret_key_text(settings)
        _private_from_text(material)
    except IdentityKeyError:
        material = public_key(settings)
    return hmac.new(_recipient_secret(material), address.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()


@lru_cache(maxsize=8)
def _recipient_secret(material: bytes) -> bytes:
    """The HMAC key of `recipient_key`, derived from the key material (once per key)."""
    return hashlib.sha256(b"stopit recipient key\0" + material).digest()
