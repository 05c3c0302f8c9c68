"""Who is calling: a Unix account (from the kernel), then the staff member it maps to.

Two kinds of caller exist. The service account (the owner of the data folder, or root) holds the
database and the keys anyway: it may name the staff member it acts for (`--as`, STOPIT_STAFF or
staff_name), and both names go to the audit. Everyone else is exactly the [[staff]] entry whose
`unix_user` is their account; asking to be someone else is refused.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from stopit_mail.api import socket_path
from stopit_mail.cases.staff import Actor, PermissionDenied, resolve_actor
from stopit_mail.config import Settings
from stopit_mail.errors import StopitError


@dataclass(frozen=True)
class Caller:
    """A Unix account as the kernel reports it, and whether it is the service account."""

    uid: int
    user: str
    service: bool


def unix_name(uid: int) -> str:
    """The account name of `uid` ('uid 1234' when it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def service_uid(data_path: Path) -> int:
    """The service account's uid: the owner of the data folder."""
    try:
        return data_path.stat().st_uid
    except FileNotFoundError:
        # Not made yet: whoever opens the installation now creates it and becomes its owner.
        return os.geteuid()
    except PermissionError:
        # A folder we may not even look at is not ours.
        return -1


def caller_for(settings: Settings, uid: int) -> Caller:
    """The caller with kernel-given `uid`; root and the data folder's owner are the service account."""
    return Caller(uid, unix_name(uid), uid == 0 or uid == service_uid(settings.data_path))


def local_caller(settings: Settings) -> Caller:
    """This process, by its effective uid (what the kernel would say if it called the socket)."""
    return caller_for(settings, os.geteuid())


def actor_for(settings: Settings, caller: Caller, as_name: str | None = None) -> Actor:
    """The staff member `caller` acts as, with `as_name` from --as / STOPIT_STAFF (service account only)."""
    mapped = next((m for m in settings.staff if m.unix_user and m.unix_user == caller.user), None)
    if not caller.service:
        if mapped is None:
            raise PermissionDenied(f"the Unix account {caller.user!r} is not a staff member: an admin adds "
                                   f"unix_user = {caller.user!r} to its [[staff]] entry")
        if as_name and as_name.strip().lower() != mapped.name.lower():
            raise PermissionDenied(f"--as is only for an admin acting as the service account; you are "
                                   f"{mapped.name} (Unix account {caller.user!r}) and act as yourself")
        return Actor(mapped.name, frozenset(mapped.roles), frozenset(mapped.organisations))
    name = (as_name or settings.staff_name or "").strip()
    if name:
        return resolve_actor(settings, name)
    if settings.staff and mapped is None:
        raise StopitError(f"who is acting? The service account ({caller.user}) names the staff member it acts "
                          "for with --as NAME, STOPIT_STAFF or staff_name in stopit.toml; staff run commands "
                          "as themselves (their unix_user)")
    if mapped is not None:
        return Actor(mapped.name, frozenset(mapped.roles), frozenset(mapped.organisations))
    # The single-user quick start: the data folder's owner is its only operator and admin.
    return Actor(name=caller.user, restricted=False)


def check_service_account(settings: Settings, service_answered: bool = False) -> Caller:
    """This process as the service account, or a StopitError saying why it may not open the data itself.

    `service_answered`: the service is running, but this command does not go through it (yet).
    """
    caller = local_caller(settings)
    if caller.service:
        return caller
    if service_answered:
        raise StopitError(f"this command opens the data folder {settings.data_path} itself, which only the service "
                          "account may do: ask an admin to run it as the service account (sudo -u stopit stopit ...)")
    raise StopitError(f"the stopit service is not running (nothing answers on {socket_path(settings)})"
                      f" and only the service account may open the data folder {settings.data_path} itself: "
                      "ask an admin to start it (systemctl start stopit)")
