"""Who is acting, and what they may see and do.

The acting staff member comes from `--as`, else the STOPIT_STAFF environment variable, else
`staff_name` in the configuration. When staff are configured, the actor must be one of them,
is limited to their organisations, and needs the `reveal` role to unseal a reporter's identity.
An installation with no [[staff]] configured is a single-operator setup: the actor is recorded
but not restricted (there is no one to restrict them against).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from stopit_mail.config import Settings
from stopit_mail.errors import StopitError
from stopit_mail.models import Case

STAFF_ENV = "STOPIT_STAFF"


class PermissionDenied(StopitError):
    """The acting staff member may not do this (wrong organisation or missing role)."""


@dataclass(frozen=True)
class Actor:
    """The person an action is recorded against."""

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    organisations: frozenset[str] = field(default_factory=frozenset)  # empty: all
    restricted: bool = True

    def may_see(self, organisation: str) -> bool:
        """True when this actor works for `organisation`."""
        return not self.restricted or not self.organisations or organisation in self.organisations

    def check_case(self, case: Case) -> None:
        """Raise PermissionDenied when the case belongs to another organisation."""
        if not self.may_see(case.organisation):
            raise PermissionDenied(f"{self.name} does not work for organisation {case.organisation!r}")

    def check_role(self, role: str) -> None:
        """Raise PermissionDenied when the actor lacks `role`."""
        if self.restricted and role not in self.roles:
            raise PermissionDenied(f"{self.name} does not have the {role!r} role")


def resolve_actor(settings: Settings, as_name: str | None = None) -> Actor:
    """The acting staff member from --as, STOPIT_STAFF or staff_name, checked against [[staff]]."""
    name = (as_name or os.environ.get(STAFF_ENV) or settings.staff_name or "").strip()
    if not name:
        raise StopitError("who is acting? Use --as NAME, set STOPIT_STAFF, or set staff_name in stopit.toml")
    if not settings.staff:
        return Actor(name=name, restricted=False)
    member = settings.staff_member(name)
    if member is None:
        known = ", ".join(s.name for s in settings.staff)
        raise PermissionDenied(f"{name!r} is not a configured staff member (known: {known})")
    return Actor(member.name, frozenset(member.roles), frozenset(member.organisations))
