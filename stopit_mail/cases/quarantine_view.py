"""The quarantine as a person reads it: what each set-aside message is, from whom, and why.

A message is quarantined when it cannot be processed (too big, malformed beyond repair, a
crash too many). Among them can be an emergency: pre-triage at store time already matched an
emergency rule on its first kilobytes (`RawMessage.priority`), so the view says "POSSIBLE
EMERGENCY" for those, first in the list, and shows the first words when nobody is protected by
hiding them.

Two rules hold here as everywhere:
- Scope: a staff member sees only messages of their organisations (the case's, else the
  organisation of the envelope recipient; a message for no known mailbox only to staff who see
  every organisation).
- Identity: the sender (From header and envelope) and the words of a message that could reveal
  an anonymous reporter are shown only through the identity gate (`identity_gate`: reveal role,
  a reason, audited). Every message is sealed at the 250 (issue 10); one that is not identifying
  (an ordinary sender) is opened in memory to be read, an identifying one never is.

The results are plain data (dicts), so the CLI and the local API render them as they wish.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from stopit_mail.cases.identity_gate import MASK, gate, is_identifying, stored_envelope
from stopit_mail.cases.message_head import HEAD_BYTES, StoredHead
from stopit_mail.cases.pretriage import EMERGENCY
from stopit_mail.cases.staff import Actor, PermissionDenied
from stopit_mail.config import Settings
from stopit_mail.errors import NotFound
from stopit_mail.models import Case, RawMessage, RawStatus
from stopit_mail.sealing import IdentityKeyError, is_sealed_bytes

# A sealed message opens only whole; a listing opens those up to this size (bigger ones are
# listed by their envelope and size, and `show` opens them one at a time).
LIST_OPEN_BYTES = 2 * 1024 * 1024
NO_HEAD = {"sender": "", "date": "", "subject": "", "preview": ""}


def human_size(size: int) -> str:
    """1536 -> '1.5 KB': sizes a person reads at a glance."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def organisation_of(session: Session, settings: Settings, raw: RawMessage) -> str | None:
    """The organisation a stored message belongs to: its case's, else its recipient's; None if unknown."""
    if raw.case_id is not None:
        slug = session.scalar(select(Case.organisation).where(Case.id == raw.case_id))
        if slug is not None:
            return slug
    for address in raw.rcpt_to or []:
        org = settings.organisation_for(str(address))
        if org is not None:
            return org.slug
    return None


def may_see(actor: Actor, organisation: str | None) -> bool:
    """Whether the actor may see a message of this organisation (unknown: only who sees them all)."""
    if organisation is None:
        return not actor.restricted or not actor.organisations
    return actor.may_see(organisation)


def _read_head(head: StoredHead) -> dict[str, str]:
    """The head of stored bytes, opened in memory when sealed at the 250 (once: the gate reads
    the same `StoredHead`); nothing when they cannot be read (empty, a sealed prefix, or the
    identity key missing)."""
    try:
        return head.get()
    except IdentityKeyError:
        return dict(NO_HEAD)


def _row(raw: RawMessage, organisation: str | None, head: dict[str, str], sealed: bool,
         envelope: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": raw.id, "status": raw.status.value, "kind": raw.kind.value, "organisation": organisation,
        "received_at": _iso(raw.received_at), "date": head["date"], "source": raw.source, "size": raw.size,
        "size_text": human_size(raw.size),
        # A message set aside before it was parsed (too big) has no stored subject: read it from its head.
        "subject": raw.subject or (None if sealed else head["subject"] or None),
        "sender": MASK if sealed and (head["sender"] or raw.mail_from) else head["sender"],
        "mail_from": envelope["mail_from"], "sealed": sealed, "reason": raw.reason, "attempts": raw.attempts,
        "possible_emergency": raw.priority >= EMERGENCY,
    }


def list_quarantine(session: Session, settings: Settings, actor: Actor, limit: int | None = None) -> dict[str, Any]:
    """Quarantined messages the actor may see: possible emergencies first, then oldest first.

    Returns {"total": how many the actor may see, "messages": the first `limit` (all when None)}.
    """
    rows = session.execute(
        select(RawMessage, func.substr(RawMessage.content, 1, HEAD_BYTES))
        .where(RawMessage.status == RawStatus.QUARANTINED)
        .order_by(RawMessage.priority.desc(), RawMessage.id)).all()
    visible = []
    for raw, head_bytes in rows:
        organisation = organisation_of(session, settings, raw)
        if may_see(actor, organisation):
            start = bytes(head_bytes or b"")
            if not (is_sealed_bytes(start) and raw.size <= LIST_OPEN_BYTES):
                # A listing must not load every set-aside message in full (they are often the
                # huge ones): the gate and the head read the first bytes only. Read-only here.
                set_committed_value(raw, "content", start)
            visible.append((raw, organisation, start))
    shown = visible if limit is None else visible[:max(limit, 0)]
    messages = []
    for raw, organisation, _start in shown:
        stored = StoredHead(settings, raw.content)
        sealed = is_identifying(session, settings, raw, stored)
        head = dict(NO_HEAD) if sealed else _read_head(stored)
        messages.append(_row(raw, organisation, head, sealed, stored_envelope(settings, raw, sealed)))
    return {"total": len(visible), "messages": messages}


def visible_message(session: Session, settings: Settings, actor: Actor, raw_id: int) -> RawMessage:
    """A stored message of the actor's organisations (NotFound, PermissionDenied otherwise)."""
    raw = session.get(RawMessage, raw_id)
    if raw is None:
        raise NotFound(f"no stored message {raw_id}")
    if not may_see(actor, organisation_of(session, settings, raw)):
        raise PermissionDenied(f"{actor.name} does not work for the organisation of stored message {raw_id}")
    return raw


def show_message(session: Session, settings: Settings, actor: Actor, raw_id: int,
                 reason: str | None = None) -> dict[str, Any]:
    """One stored message (quarantined or not), readable; identifying parts only with a reveal.

    With `reason`, a message that could reveal an anonymous reporter is opened through the
    identity gate (reveal role, a reason, audited): its envelope, sender and first words.
    """
    raw = visible_message(session, settings, actor, raw_id)
    organisation = organisation_of(session, settings, raw)
    head_bytes = bytes(session.scalar(select(func.substr(RawMessage.content, 1, HEAD_BYTES))
                                      .where(RawMessage.id == raw_id)) or b"")
    # A message sealed at the 250 opens only whole, once, for the gate and for the head.
    stored = StoredHead(settings, raw.content if is_sealed_bytes(head_bytes) else head_bytes)
    sealed = is_identifying(session, settings, raw, stored)
    # Shown only when it names no anonymous reporter, or through the gate below.
    head = dict(NO_HEAD) if sealed else _read_head(stored)
    revealed = sealed and bool(reason)
    if revealed:
        case = session.get(Case, raw.case_id) if raw.case_id is not None else None
        gate(session, settings, actor, case, f"stored message {raw_id}", reason or "")
        head = stored.get()
    envelope = stored_envelope(settings, raw, sealed and not revealed)
    row = _row(raw, organisation, head, sealed and not revealed, envelope)
    preview = "" if sealed and not revealed else head["preview"]
    case_number = (session.scalar(select(Case.number).where(Case.id == raw.case_id))
                   if raw.case_id is not None else None)
    return {**row, **envelope, "revealed": revealed, "sha256": raw.sha256,
            "source_ref": raw.source_ref, "defects": raw.defects, "processed_at": _iso(raw.processed_at), "case": case_number,
            "preview": preview, "preview_withheld": sealed and not revealed}
