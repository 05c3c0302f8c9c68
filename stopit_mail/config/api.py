"""The `[api]` section: the local staff API socket of `stopit serve` / `stopit api serve`.

Staff commands reach the service through this socket; the kernel names the caller
(SO_PEERCRED), and `unix_user` in [[staff]] maps that account to a staff member. Kept apart
from schema.py because who-may-connect is a deployment decision checked on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stopit_mail.config.fields import doc

if TYPE_CHECKING:
    from stopit_mail.config.schema import Settings

# POSIX portable user and group names (useradd's default NAME_REGEX), at most 32 characters.
UNIX_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,30}\$?$")


@dataclass
class ApiSettings:
    """The local JSON API that staff commands (and a future web console) use."""

    enabled: bool = doc("Serve the staff API socket from `stopit serve` (`stopit api serve` runs it alone).", True)
    socket: str = doc("Path of the Unix socket (relative to data_dir).", "run/stopit.sock")
    group: str = doc("Group that owns the socket (mode 0660): the staff group; empty: the service's own group.", "")


def check_api(settings: Settings, problems: list[str]) -> None:
    """Socket path, group name, and each staff member's unix_user (format, used once)."""
    api = settings.api
    if not api.socket.strip() or "\x00" in api.socket:
        problems.append(f"api.socket: found {api.socket!r}, expected a path such as 'run/stopit.sock'")
    if api.group and not UNIX_NAME_RE.match(api.group):
        problems.append(f"api.group: found {api.group!r}, expected a Unix group name such as 'stopit-staff'")
    seen: set[str] = set()
    for i, member in enumerate(settings.staff):
        if member is None or not member.unix_user:
            continue
        if not UNIX_NAME_RE.match(member.unix_user):
            problems.append(f"staff[{i}].unix_user: found {member.unix_user!r}, expected a Unix user name "
                            "such as 'pmorgan'")
        elif member.unix_user in seen:
            problems.append(f"staff[{i}].unix_user: {member.unix_user!r} is mapped to two staff members")
        seen.add(member.unix_user)
