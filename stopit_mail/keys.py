"""Identity key management: check at start-up, back up, rotate; never a silent new key.

The public key lives in the database (`identity_keys`) and in `identity.pub`; the secret key in
`identity.key` (or the environment). At start-up `prepare` makes the three agree or says loudly
what is wrong: a missing or corrupt secret key leaves the service accepting and paging (sealing
needs only the public key, and the store-time pre-triage pages an emergency it cannot open) but
unable to open what it stored (messages are quarantined until the key is back: `stopit
quarantine retry`), to reveal, or to write to anonymous reporters until the backup is restored. `rotate` makes a new key pair and re-seals every
sealed value in one transaction, keeping the previous key file beside the new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stopit_mail import sealing
from stopit_mail.config import Settings
from stopit_mail.errors import StopitError
from stopit_mail.models import IdentityKey, OutboxMessage, RawMessage, Report

log = logging.getLogger(__name__)


@dataclass
class KeyStatus:
    """What the service can do with its identity key."""

    key_id: str = ""
    can_seal: bool = False
    can_reveal: bool = False
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for `stopit status` and the start-up log."""
        if self.can_reveal and not self.problems:
            return f"identity key {self.key_id}: ok"
        state = "sealing works, REVEAL IMPOSSIBLE" if self.can_seal else "CANNOT SEAL"
        return f"identity key {self.key_id or '?'}: {state}: " + "; ".join(self.problems)


def _active(session: Session) -> IdentityKey | None:
    return session.scalar(select(IdentityKey).where(IdentityKey.active.is_(True)).order_by(IdentityKey.id.desc()))


def _register(session: Session, public: bytes) -> IdentityKey:
    key_id = sealing.key_id_of(public)
    row = session.scalar(select(IdentityKey).where(IdentityKey.key_id == key_id))
    if row is None:
        session.execute(update(IdentityKey).values(active=False))
        row = IdentityKey(key_id=key_id, public_key=sealing._b64(public), active=True)
        session.add(row)
        session.flush()
    return row


def prepare(settings: Settings, session: Session, create: bool = False) -> KeyStatus:
    """Reconcile key file, public key file and database; create a key only when `create` and none exists."""
    status = KeyStatus()
    active = _active(session)
    secret_public: bytes | None = None
    try:
        secret_public = sealing.public_bytes(sealing.private_key(settings))
    except sealing.IdentityKeyError as exc:
        if create and active is None and not sealing.key_path(settings).exists():
            secret_public = sealing.create_key(settings)
        else:
            status.problems.append(str(exc))
    if active is None and secret_public is not None:
        active = _register(session, secret_public)
    if active is None:
        status.problems.append("no identity key is recorded in the database: run `stopit init` on this installation")
        return status
    db_public = sealing._unb64(active.public_key)
    status.key_id, status.can_seal = active.key_id, True
    if secret_public is not None and secret_public != db_public:
        status.problems.append(f"the identity key file holds key {sealing.key_id_of(secret_public)}, "
                               f"but the database's key is {active.key_id}: restore the right backup")
    status.can_reveal = secret_public == db_public
    try:
        on_disk = sealing.public_key(settings) if sealing.public_key_path(settings).exists() else None
    except sealing.IdentityKeyError:
        on_disk = None
    if on_disk != db_public:
        sealing.write_public_key(settings, db_public)
    for problem in status.problems:
        log.error("identity key: %s", problem)
    return status


def backup(settings: Settings, destination: Path) -> str:
    """Copy the secret key to `destination` (mode 0600); returns its key id."""
    public = sealing.public_bytes(sealing.private_key(settings))
    if destination.exists():
        raise StopitError(f"{destination} exists; choose a new file for the backup")
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(sealing.secret_key_text(settings) + b"\n")
    destination.chmod(0o600)
    return sealing.key_id_of(public)


def rotate(settings: Settings, session: Session) -> tuple[str, int]:
    """New key pair; every sealed value re-sealed in the caller's transaction. Returns (key id, count)."""
    old_text = sealing.secret_key_text(settings)
    sealing.private_key(settings)  # fails loudly if the current key cannot open anything
    opened_reports = [(r, sealing.unseal(settings, r.sealed_identity or "")) for r in
                      session.scalars(select(Report).where(Report.sealed_identity.is_not(None)))]
    outbox_rows = list(session.scalars(select(OutboxMessage)))
    opened_outbox = [(row, [sealing.open_recipient(settings, r) if r.startswith(sealing.SEALED_PREFIX) else None
                            for r in row.recipients], sealing.open_bytes(settings, row.content))
                     for row in outbox_rows]
    raws = [(raw, sealing.open_bytes(settings, raw.content), sealing.open_envelope(settings, raw.mail_from, raw.peer))
            for raw in session.scalars(select(RawMessage))
            if sealing.is_sealed_bytes(raw.content) or sealing.is_sealed_envelope(raw.mail_from)]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    previous = sealing.key_path(settings).with_name(f"{sealing.key_path(settings).name}.{stamp}.previous")
    previous.write_bytes(old_text + b"\n")
    previous.chmod(0o600)
    public = sealing.create_key(settings, replace=True)
    _register(session, public)
    count = 0
    for report, identity in opened_reports:
        report.sealed_identity = sealing.seal(settings, identity)
        count += 1
    for row, addresses, content in opened_outbox:
        if any(a is not None for a in addresses):
            row.recipients = [sealing.sealed_recipient(settings, a) if a is not None else r
                              for r, a in zip(row.recipients, addresses, strict=True)]
            count += 1
        if sealing.is_sealed_bytes(row.content):
            row.content = sealing.seal_bytes(settings, content)
            count += 1
    for raw, content, (mail_from, peer) in raws:
        if sealing.is_sealed_bytes(raw.content):
            raw.content = sealing.seal_bytes(settings, content)
        if sealing.is_sealed_envelope(raw.mail_from):  # waiting since the 250: sealed whole
            raw.mail_from = sealing.seal_envelope(public, mail_from, peer)
        count += 1
    return sealing.key_id_of(public), count
