"""Anonymous reporters: identities sealed at intake, revealed only by a reasoned, audited act.

When a reporter asks for anonymity (their organisation's default, or a word such as
"anonymous" in the subject), their address and name are encrypted with a key from the
environment (or a key file in the data folder) before anything is stored in a readable column;
staff see the case code instead. Their own address is also blanked from the evidence's
recipient lists and texts, since a forwarded message was usually sent *to* them.

`reveal` is the deliberate path (STOPit's "subpoena" path): it needs the `reveal` role and a
reason, and writes an audit event before returning the identity.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from stopit_mail.cases.staff import Actor
from stopit_mail.config import Organisation, Settings
from stopit_mail.models import Case, CaseAlias, Report
from stopit_mail.sealing import Identity, IdentityKeyError, seal, unseal

__all__ = ["REDACTED", "Identity", "redact_bytes", "redact_text", "reporter_identities", "reveal", "seal",
           "wants_anonymity"]

REDACTED = "[reporter]"


def wants_anonymity(subject: str, organisation: Organisation, words: list[str]) -> bool:
    """The organisation's default, or an anonymity word in the subject."""
    if organisation.anonymous_by_default:
        return True
    lowered = subject.lower()
    return any(re.search(rf"(?<!\w){re.escape(word.lower())}(?!\w)", lowered) for word in words)


def redact_text(text: str | None, identity: Identity) -> str | None:
    """The text with the reporter's address (and a name of two or more letters) blanked."""
    if not text:
        return text
    result = re.sub(re.escape(identity.address), REDACTED, text, flags=re.IGNORECASE) if identity.address else text
    if len(identity.name.strip()) >= 2:
        result = re.sub(re.escape(identity.name.strip()), REDACTED, result, flags=re.IGNORECASE)
    return result


def redact_bytes(content: bytes, identity: Identity) -> bytes:
    """Bytes with the reporter's address and name blanked (for referrals without consent)."""
    result = content
    for needle in (identity.address, identity.name.strip()):
        if len(needle) >= 2:
            result = re.sub(re.escape(needle.encode("utf-8")), REDACTED.encode(), result, flags=re.IGNORECASE)
    return result


def reporter_identities(settings: Settings, case: Case) -> list[Identity]:
    """Every reporter's identity, unsealing anonymous ones (callers must not show these)."""
    found: list[Identity] = []
    for report in case.reports:
        if report.sender_role == "alleged-sender":
            continue  # the alleged sender forwarding his own mail is not a reporter
        if report.sealed_identity:
            found.append(unseal(settings, report.sealed_identity))
        elif report.reporter_address or report.reporter_name:
            found.append(Identity(report.reporter_address or "", report.reporter_name or ""))
    return found


def reveal(session: Session, settings: Settings, actor: Actor, case: Case, reason: str) -> list[Identity]:
    """The anonymous reporters of a case, through the identity gate (reveal role, reason, audited)."""
    from stopit_mail.cases.identity_gate import open_identities  # the gate builds on this module

    return open_identities(session, settings, actor, case, reason)


def side_is_sealed(session: Session, alias: CaseAlias | None) -> bool:
    """True when a reply came through the alias of an anonymous report (its sender stays sealed)."""
    if alias is None or alias.report_id is None:
        return False
    report = session.get(Report, alias.report_id)
    return report is not None and report.sealed_identity is not None


def scrub_sealed_side(session: Session, settings: Settings, alias: CaseAlias | None, text: str) -> str:
    """Text written by an anonymous reporter (a reply's subject and words) without their name or
    addresses, for the timeline. With the secret key lost it cannot know them: it says so."""
    if alias is None or alias.report_id is None:
        return text
    report = session.get(Report, alias.report_id)
    if report is None or not report.sealed_identity:
        return text
    from stopit_mail.outbound.redact import Traces  # cases may use outbound; kept local to stay light

    try:
        identity = unseal(settings, report.sealed_identity)
    except IdentityKeyError:
        return "[withheld: the identity key is missing, so the reporter's name cannot be removed from this text]"
    traces = Traces()
    traces.add_address(identity.address)
    traces.add_name(identity.name)
    for name, address in identity.others:
        traces.add_address(address)
        traces.add_name(name)
    return traces.scrub(text)
