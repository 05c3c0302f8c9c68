"""Configuration of casework: offices, escalation chains, staff and their roles, anonymity.

Kept apart from the core schema because it is what each organisation tunes most, and what a
district with several schools repeats per school.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from stopit_mail.config.fields import doc


@dataclass
class Office:
    """An office that takes referrals: police, dean on call, Title IX, HR, ombuds..."""

    name: str = doc("Short name used in commands, e.g. 'title-ix'.")
    title: str = doc("Name shown in referrals, e.g. 'Title IX Office'.", "")
    addresses: list[str] = doc("Where referrals are sent.", factory=list)
    categories: list[str] = doc("Triage categories this office handles.", factory=list)
    urgencies: list[str] = doc("Urgencies routed here automatically (empty: any).", factory=list)
    auto_refer: bool = doc("Refer matching cases automatically instead of suggesting it.", False)


@dataclass
class ChainStep:
    """One step of an escalation chain: who is paged and how long they have to answer."""

    contact: str = doc("Who this step is, e.g. 'primary', 'secondary', 'police'.")
    addresses: list[str] = doc("Email and SMS-gateway addresses paged at this step.", factory=list)
    wait_minutes: int = doc("Minutes to wait for an acknowledgement before the next step.", 10)


@dataclass
class Reviewer:
    """An on-call reviewer, paged first for a *possible* emergency to confirm or dismiss it."""

    contact: str = doc("Who this is, e.g. 'reviewer-on-call'.")
    addresses: list[str] = doc("Email and SMS-gateway addresses paged for review.", factory=list)


NEXT_BUSINESS_MORNING = "next-business-morning"
_SPAN = re.compile(r"^(\d{1,5})([mh])$")


def parse_read_deadline(text: str) -> tuple[bool, timedelta]:
    """'10m', '2h', 'next-business-morning' or 'next-business-morning+1h' to (morning?, span).

    With `next-business-morning` the span is a grace period after the next business opening;
    otherwise it is counted from the report. ValueError when malformed.
    """
    morning = text.startswith(NEXT_BUSINESS_MORNING)
    rest = text.removeprefix(NEXT_BUSINESS_MORNING)
    if morning:
        if not rest:
            return True, timedelta(0)
        if not rest.startswith("+"):
            raise ValueError(text)
        rest = rest[1:]
    match = _SPAN.match(rest)
    if match is None:
        raise ValueError(text)
    amount = int(match.group(1))
    span = timedelta(minutes=amount) if match.group(2) == "m" else timedelta(hours=amount)
    if not morning and span <= timedelta(0):
        raise ValueError(text)
    return morning, span


@dataclass
class ReadDeadlines:
    """How long a report may wait unread before it escalates, per urgency and time of day.

    Each value is '<N>m', '<N>h', 'next-business-morning' or 'next-business-morning+<N>h';
    an empty *_after_hours value means the same as in business hours.
    """

    emergency: str = doc("Emergencies reported in business hours.", "10m")
    emergency_after_hours: str = doc("Emergencies reported outside business hours (empty: as above).", "")
    possible_emergency: str = doc("Possible emergencies reported in business hours.", "10m")
    possible_emergency_after_hours: str = doc("Possible emergencies outside business hours (empty: as above).", "")
    urgent: str = doc("Urgent reports in business hours.", "1h")
    urgent_after_hours: str = doc("Urgent reports outside business hours (empty: as above).", "")
    routine: str = doc("Routine reports in business hours.", "next-business-morning+1h")
    routine_after_hours: str = doc("Routine reports outside business hours (empty: as above).", "")

    def for_urgency(self, urgency: str, business_hours: bool) -> str:
        """The deadline text for an urgency (unknown urgencies are treated as urgent)."""
        name = urgency.replace("-", "_") if urgency.replace("-", "_") in _URGENCY_FIELDS else "urgent"
        after = getattr(self, f"{name}_after_hours")
        return getattr(self, name) if business_hours or not after else after


_URGENCY_FIELDS = ("emergency", "possible_emergency", "urgent", "routine")


@dataclass
class EscalationSettings:
    """Who is paged for an emergency, in order, in and out of business hours."""

    timezone: str = doc("IANA timezone of the business hours, e.g. 'America/New_York'.", "UTC")
    business_hours: str = doc("Opening hours as HH:MM-HH:MM.", "08:00-17:00")
    business_days: list[int] = doc("ISO weekdays with business hours (1 = Monday).", factory=lambda: [1, 2, 3, 4, 5])
    business_chain: list[ChainStep] = doc("Chain paged during business hours.", factory=list)
    after_hours_chain: list[ChainStep] = doc("Chain paged outside business hours (empty: the business chain).", factory=list)
    reviewers: list[Reviewer] = doc("On-call reviewers paged first for a possible emergency (empty: page the chain at once).", factory=list)
    confirm_minutes: int = doc("Minutes a reviewer has to confirm or dismiss before the chain is paged anyway.", 5)
    read_deadlines: ReadDeadlines = doc("How long a report may stay unread before it escalates.", factory=ReadDeadlines)
    sms_gateway_domains: list[str] = doc("Domains of email-to-SMS gateways: their pages are short (160 characters).", factory=list)


@dataclass
class StaffMember:
    """A person who works cases, with the organisations they may see and their roles."""

    name: str = doc("The name used with --as and in the audit log.")
    address: str = doc("Their email address (never used as a From: replies come from the case alias).", "")
    roles: list[str] = doc("Roles: 'staff', 'reveal' (may reveal anonymous reporters), 'approver' (second person "
                           "for reveals), 'admin' (configuration, keys, retention).", factory=lambda: ["staff"])
    organisations: list[str] = doc("Organisation slugs they work for (empty: all).", factory=list)
    unix_user: str = doc("Their Unix account: the staff API names callers by it (SO_PEERCRED); empty: none.", "")


@dataclass
class CaseworkSettings:
    """Installation-wide casework rules."""

    identity_key_env: str = doc("Environment variable holding the key that seals anonymous identities.", "STOPIT_IDENTITY_KEY")
    identity_key_file: str = doc("File holding that key (relative to data_dir) when the variable is unset.", "identity.key")
    anonymity_words: list[str] = doc(
        "Words in a report's subject that ask for anonymity.",
        factory=lambda: ["anonymous", "anonymously", "anónimo", "anonimo", "anónima", "anonima", "anonyme"],
    )
    stop_window_days: int = doc("A sender not reported again within this many days after a notice has stopped.", 90)
    triage_rules: list[dict[str, Any]] = doc("Extra triage rules ([[casework.triage_rules]] tables).", factory=list)
    disabled_triage_rules: list[str] = doc("Names of built-in triage rules to switch off.", factory=list)
    outcomes: list[str] = doc(
        "Outcome codes a case is closed with (`cases close --outcome`), counted by `stats`.",
        factory=lambda: ["resolved-notice", "referred", "unfounded", "prank", "duplicate", "counselling",
                         "discipline", "no-action", "withdrawn"],
    )
