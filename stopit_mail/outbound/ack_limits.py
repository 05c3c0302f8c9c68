"""When an acknowledgement must not be sent: loops, daemons, our own addresses, rate limits.

RFC 3834 keeps well-behaved responders out; the rest is counted. Limits apply per address, per
sending domain (a helpdesk that answers from a new address per ticket) and per case, all by
keyed hashes of the outbox rows, so nobody is unsealed to count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from stopit_mail.config import Settings
from stopit_mail.outbound.outbox import sent_to_and_for_case_since, sent_to_domain_since
from stopit_mail.sealing import recipient_key

ACK = "acknowledgement"
_DAEMONS = ("mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply")


def domain_key(settings: Settings, address: str) -> str:
    """The keyed hash of an address's domain."""
    return recipient_key(settings, "@" + address.rpartition("@")[2])


@dataclass(frozen=True)
class AckKeys:
    """The keyed hashes of a reporter's address and domain: computed once per report, before the
    write transaction (the limits count by them, the outbox row stores them)."""

    recipient: str
    domain: str


def ack_keys(settings: Settings, address: str) -> AckKeys:
    """Both keyed hashes of `address` (raises IdentityKeyError when no key can be read)."""
    return AckKeys(recipient_key(settings, address), domain_key(settings, address))


def refusal(session: Session, settings: Settings, address: str, case_id: int | None,
            has_evidence: bool = True, emergency: bool = False, keys: AckKeys | None = None) -> str | None:
    """Why this report must not be acknowledged, or None. The reason never names the address.

    `keys`: the address's `ack_keys`, when the caller has them already.

    The domain limit counts only reports that forward nothing: many genuine reporters share a
    domain (a school, a webmail provider) and each forwards what they received, while a ticket
    system answering from a new address per ticket forwards nothing. Emergencies are exempt from
    the domain and case limits: their acknowledgement tells the reporter whom to call.
    """
    if not address or "@" not in address:
        return "no usable sender address"
    local = address.partition("@")[0]
    if local.split("+")[0].lower() in _DAEMONS:
        return "daemon sender"
    if settings.organisation_for(address) is not None:
        return "one of our own addresses"
    since = datetime.now(UTC) - timedelta(hours=1)
    outbound = settings.outbound
    # Both counts every report needs, in one statement (the domain's only when it is needed).
    keys = keys or ack_keys(settings, address)
    to_sender, for_case = sent_to_and_for_case_since(session, keys.recipient, case_id, ACK, since)
    if to_sender >= outbound.acks_per_sender_per_hour:
        return f"rate limit: {outbound.acks_per_sender_per_hour} acknowledgements to this address in the last hour"
    if emergency:
        return None
    if not has_evidence and sent_to_domain_since(session, keys.domain, ACK, since) \
            >= outbound.acks_per_domain_per_hour:
        return f"rate limit: {outbound.acks_per_domain_per_hour} acknowledgements to this domain in the last hour"
    if case_id is not None and for_case >= outbound.acks_per_case_per_hour:
        return f"rate limit: {outbound.acks_per_case_per_hour} acknowledgements on this case in the last hour"
    return None
