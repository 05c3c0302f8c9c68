"""Configuration of who may see identities and how long cases are kept.

Per organisation: whether a reveal needs a second person's approval (GlobaLeaks' custodian
model) and the retention schedule (closed cases purged N days after their last activity,
chosen outcomes sooner, open cases never). Kept apart from the core schema because both are
records-policy decisions an organisation makes, and both are checked against the staff list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stopit_mail.config.fields import doc

if TYPE_CHECKING:
    from stopit_mail.config.schema import Settings

ROLES = ("staff", "reveal", "approver", "admin")


@dataclass
class OutcomeRetention:
    """A shorter (or longer) keeping period for closed cases with one outcome."""

    outcome: str = doc("Outcome code from casework.outcomes, e.g. 'unfounded'.")
    days: int = doc("Days after the last activity before a closed case with this outcome is purged.")


@dataclass
class RetentionSettings:
    """When a case's content is purged; a metadata stub stays for statistics."""

    closed_days: int = doc("Days after the last activity before a closed case is purged (0: never).", 0)
    outcomes: list[OutcomeRetention] = doc("Per-outcome periods for closed cases ([[...retention.outcomes]]).",
                                           factory=list)
    warning_days: int = doc("Days of warning before a purge; a case is purged only after its warning.", 14)


def _check_retention(key: str, retention: RetentionSettings, outcomes: list[str], problems: list[str]) -> None:
    if not 0 <= retention.closed_days <= 36500:
        problems.append(f"{key}.closed_days: found {retention.closed_days}, expected 0 (never) to 36500")
    if not 1 <= retention.warning_days <= 365:
        problems.append(f"{key}.warning_days: found {retention.warning_days}, expected 1 to 365")
    seen: list[str] = []
    for i, rule in enumerate(retention.outcomes):
        if rule is None:
            continue
        if rule.outcome not in outcomes:
            problems.append(f"{key}.outcomes[{i}].outcome: found {rule.outcome!r}, expected one of casework.outcomes")
        elif rule.outcome in seen:
            problems.append(f"{key}.outcomes[{i}].outcome: {rule.outcome!r} is listed twice")
        seen.append(rule.outcome)
        if not 1 <= rule.days <= 36500:
            problems.append(f"{key}.outcomes[{i}].days: found {rule.days}, expected 1 to 36500")


def check_policy(settings: Settings, problems: list[str]) -> None:
    """Roles, unique staff names, two-person reveal staffing and retention periods."""
    names = [m.name.lower() for m in settings.staff if m is not None]
    for i, member in enumerate(settings.staff):
        if member is None:
            continue
        if not member.name.strip():
            problems.append(f"staff[{i}].name: empty (expected the name used in the audit log)")
        elif names.count(member.name.lower()) > 1:
            problems.append(f"staff[{i}].name: {member.name!r} is used twice")
        if not member.roles:
            problems.append(f"staff[{i}].roles: empty (expected at least one of {', '.join(ROLES)})")
    for i, org in enumerate(settings.organisations):
        if org is None:
            continue
        key = f"organisations[{i}]"
        _check_retention(f"{key}.retention", org.retention, settings.casework.outcomes, problems)
        if not 5 <= org.reveal_approval_minutes <= 10080:
            problems.append(f"{key}.reveal_approval_minutes: found {org.reveal_approval_minutes}, expected 5 to 10080")
        if not org.reveal_approval:
            continue
        working = [m for m in settings.staff if m is not None and (not m.organisations or org.slug in m.organisations)]
        revealers = {m.name for m in working if "reveal" in m.roles}
        approvers = {m.name for m in working if "approver" in m.roles}
        # Two different people: someone who may reveal and someone else who may approve.
        if not revealers or not approvers or (len(revealers | approvers) < 2):
            problems.append(f"{key}.reveal_approval: needs [[staff]] of {org.slug!r} with the 'reveal' role and "
                            "a different person with the 'approver' role")
