"""The one gate every path to a sealed identity goes through: reveal role, a reason, an audit event.

Anything that can show an anonymous reporter (their sealed identity, the stored bytes of their
report, of their replies and of bounces or automatic answers to mail we sent them, the envelope
of a quarantined message that asked for anonymity) is read through `open_identities`,
`open_stored_message`, or shown masked by `stored_envelope` until `gate` passes; a referral naming them to an office, with their
consent, through `disclose_by_consent`. Each checks the actor's organisation and (but for a
consented disclosure, where the consent stands in) the `reveal`
role, demands a reason (and, where the organisation sets `reveal_approval`, an approved
request of this actor within its window: `approvals.py`), and records `identity-revealed` (what, why, who; never the value) in
the same transaction before returning anything. The CLI, the web door and the worker call
these; nothing else unseals for a person.

API for other doors (the web):
- `is_identifying(session, settings, raw, head)`: would showing this stored message reveal someone?
  (`head`: a `StoredHead` the caller reads too, so a sealed message is opened once.)
- `open_stored_message(session, settings, actor, raw_id, reason)`: its bytes, gated when needed.
- `stored_envelope(settings, raw, masked)`: a stored message's envelope, masked or opened in memory.
- `open_identities(session, settings, actor, case, reason)`: the sealed reporters of a case.
- `disclose_by_consent(session, settings, actor, case, office)`: the reporters of a case for a
  referral they consented to (no reveal role: their consent; audited the same way).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.anonymity import reporter_identities, wants_anonymity
from stopit_mail.cases.approvals import require_approval
from stopit_mail.cases.message_head import StoredHead
from stopit_mail.cases.sealed_store import is_sealed_side
from stopit_mail.cases.staff import Actor
from stopit_mail.config import Settings
from stopit_mail.errors import NotFound, StopitError
from stopit_mail.models import Case, Event, MessageKind, RawMessage, Report
from stopit_mail.sealing import (
    Identity,
    IdentityKeyError,
    is_sealed_bytes,
    is_sealed_envelope,
    open_bytes,
    open_envelope,
    unseal,
)

MASK = "[sealed: needs the reveal role]"
CONSENT_RECORDED = "identity-consent-recorded"
_OTHER_SIDES = ("alleged-sender", "office")


class RevealRefused(StopitError):
    """A reveal without the role, or without a reason worth auditing."""


def gate(session: Session, settings: Settings, actor: Actor, case: Case | None, what: str, reason: str) -> None:
    """Check role, reason and (where configured) a second person's approval, then record the reveal.

    Raises PermissionDenied, RevealRefused or ApprovalNeeded.
    """
    if case is not None:
        actor.check_case(case)
    actor.check_role("reveal")
    if len((reason or "").strip()) < 10:
        raise RevealRefused(f"revealing {what} needs --reason of at least 10 characters (it is kept in the audit log)")
    approval = require_approval(session, settings, actor, case)
    extra = {} if approval is None else {"request_id": approval.id, "approved_by": approval.decided_by}
    events.record(session, "identity-revealed", case.id if case is not None else None, actor=actor.name,
                  automatic=False, reason=reason.strip(), what=what, **extra)


def open_identities(session: Session, settings: Settings, actor: Actor, case: Case, reason: str) -> list[Identity]:
    """The anonymous reporters of a case (reveal role, reason, audited)."""
    sealed = [r for r in case.reports if r.sealed_identity]
    gate(session, settings, actor, case, f"identity of report(s) {', '.join(str(r.id) for r in sealed) or 'none'}", reason)
    return [unseal(settings, r.sealed_identity or "") for r in sealed]


def disclose_by_consent(session: Session, settings: Settings, actor: Actor | None, case: Case,
                        office: str) -> list[Identity]:
    """The reporters of a case (sealed ones unsealed), for mail to an office they agreed to be named to.

    Not a reveal to the person asking: the reporter's recorded consent (`stopit cases consent`)
    stands in for the reveal role and a reason, so only the case's scope is checked. The
    disclosure is audited as every reveal is: `identity-revealed` naming the actor, the case,
    the office and the consent (its event and who recorded it), never the identity itself.
    Raises RevealRefused without recorded consent.
    """
    if actor is not None:
        actor.check_case(case)
    if not case.identity_consent:
        raise RevealRefused(f"the reporter of {case.number} has not agreed to share their identity "
                            "(record it with `stopit cases consent` when they do)")
    consent = session.scalars(select(Event).where(Event.case_id == case.id, Event.action == CONSENT_RECORDED)
                              .order_by(Event.id.desc()).limit(1)).first()
    identities = reporter_identities(settings, case)
    reports = [str(r.id) for r in case.reports if r.sender_role != "alleged-sender"]
    events.record(session, "identity-revealed", case.id, actor=actor.name if actor else events.SYSTEM_ACTOR,
                  automatic=actor is None, what=f"identity of report(s) {', '.join(reports) or 'none'} to office {office}",
                  reason=str(consent.detail.get("reason") or "") if consent else "consent recorded on the case",
                  by_consent=True, disclosed_to=office, consent_event_id=consent.id if consent else None,
                  consent_recorded_by=consent.actor if consent else None)
    return identities


def _asked_for_anonymity(settings: Settings, raw: RawMessage, head: StoredHead | None) -> bool:
    """Whether the message's subject (stored, else read from its head) or its organisation asks for anonymity.

    A message set aside before it was parsed (too big, quarantined early) has no stored subject;
    its head is read from its first bytes, as the quarantine view reads it.
    """
    org = next((o for a in raw.rcpt_to or [] if (o := settings.organisation_for(str(a))) is not None),
               settings.default_organisation())
    subject = raw.subject or ""
    if not subject:
        # Never processed (waiting, quarantined): its subject is read from its head, in memory
        # when sealed at the 250; without the key nobody can tell, so it counts as anonymous.
        try:
            subject = (head or StoredHead(settings, raw.content or b"")).get()["subject"]
        except IdentityKeyError:
            return True
    return wants_anonymity(subject, org, settings.casework.anonymity_words)


def is_identifying(session: Session, settings: Settings, raw: RawMessage, head: StoredHead | None = None) -> bool:
    """True when showing this stored message (bytes or envelope) could reveal an anonymous reporter.

    `head`, when given, is the message's head the caller also shows (opened once for both)."""
    if raw.mail_from == "[sealed]":
        return True
    if is_sealed_envelope(raw.mail_from):
        # Sealed at the 250, not processed (waiting or quarantined): judged as an unfiled message.
        return _unfiled_identifying(session, settings, raw, head)
    if is_sealed_bytes(raw.content):
        return True
    report = session.scalar(select(Report).where(Report.raw_message_id == raw.id))
    if report is not None:
        return report.sealed_identity is not None
    case = session.get(Case, raw.case_id) if raw.case_id is not None else None
    if case is not None and case.anonymous:
        # On an anonymous case only answers filed on the alleged sender's or an office's side are plain.
        sides = [e.detail.get("side") for e in session.scalars(select(Event).where(
            Event.case_id == case.id, Event.action == "reply-received"))
            if e.detail.get("raw_message_id") == raw.id]
        return not (raw.kind is MessageKind.REPLY and sides and all(s in _OTHER_SIDES for s in sides))
    # Not (yet) filed as a report: a quarantined or waiting message that asked for anonymity is
    # sealed in spirit, also when it was never parsed but paged as an emergency on a case of its own.
    # So is one sent to an anonymous reporter's alias (their answer, set aside before it was filed).
    if raw.case_id is not None and raw.kind is not MessageKind.UNKNOWN:
        return False
    return _unfiled_identifying(session, settings, raw, head)


def _unfiled_identifying(session: Session, settings: Settings, raw: RawMessage, head: StoredHead | None) -> bool:
    """A message not filed yet: identifying when it asked for anonymity, or when it was sent to an
    anonymous reporter's alias (their answer, set aside before it was filed)."""
    codes = [local.split("+", 1)[1] for a in raw.rcpt_to or [] if "+" in (local := str(a).lower().partition("@")[0])]
    return _asked_for_anonymity(settings, raw, head) or is_sealed_side(session, codes, [])


def open_stored_message(session: Session, settings: Settings, actor: Actor, raw_id: int,
                        reason: str | None = None) -> bytes:
    """A stored message's bytes as received; gated and audited when it could reveal someone."""
    raw = session.get(RawMessage, raw_id)
    if raw is None:
        raise NotFound(f"no stored message {raw_id}")
    case = session.get(Case, raw.case_id) if raw.case_id is not None else None
    if case is not None:
        actor.check_case(case)
    if is_identifying(session, settings, raw):
        gate(session, settings, actor, case, f"stored message {raw_id}", reason or "")
    return open_bytes(settings, raw.content)


def stored_envelope(settings: Settings, raw: RawMessage, masked: bool) -> dict[str, Any]:
    """Envelope fields of a stored message: masked (the caller asked `is_identifying` and, to
    reveal, passed `gate`), else opened in memory when sealed at the 250."""
    if masked:
        joint = is_sealed_envelope(raw.mail_from)  # sealed at the 250: the peer is inside it
        return {"mail_from": MASK if raw.mail_from else raw.mail_from, "rcpt_to": [MASK] if raw.rcpt_to else [],
                "peer": MASK if raw.peer or joint else raw.peer}
    mail_from, peer = raw.mail_from, raw.peer
    if is_sealed_envelope(mail_from):
        try:
            mail_from, peer = open_envelope(settings, mail_from, peer)
        except IdentityKeyError:
            mail_from = peer = "[sealed: the identity key is missing]"
    return {"mail_from": mail_from, "rcpt_to": raw.rcpt_to, "peer": peer}
