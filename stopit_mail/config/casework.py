"""Configuration of casework: offices, escalation chains, staff and their roles, anonymity.

Kept apart from the core schema because it is what each organisation tunes most, and what a
district with several schools repeats per school.
"""

from __future__ import annotations

from dataclasses import dataclass
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
class EscalationSettings:
    """Who is paged for an emergency, in order, in and out of business hours."""

    timezone: str = doc("IANA timezone of the business hours, e.g. 'America/New_York'.", "UTC")
    business_hours: str = doc("Opening hours as HH:MM-HH:MM.", "08:00-17:00")
    business_days: list[int] = doc("ISO weekdays with business hours (1 = Monday).", factory=lambda: [1, 2, 3, 4, 5])
    business_chain: list[ChainStep] = doc("Chain paged during business hours.", factory=list)
    after_hours_chain: list[ChainStep] = doc("Chain paged outside business hours (empty: the business chain).", factory=list)


@dataclass
class StaffMember:
    """A person who works cases, with the organisations they may see and their roles."""

    name: str = doc("The name used with --as and in the audit log.")
    address: str = doc("Their email address (never used as a From: replies come from the case alias).", "")
    roles: list[str] = doc("Roles: 'staff', 'reveal' (may reveal anonymous reporters), 'admin'.", factory=lambda: ["staff"])
    organisations: list[str] = doc("Organisation slugs they work for (empty: all).", factory=list)


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
