"""Staff changes without a restart: the running service rereads `[[staff]]` when the file changes.

Who may do what is the `[[staff]]` list (names, roles, organisations, `unix_user`). An admin
who removes a leaver must not have to restart the mailbox for it to count, and one who adds a
colleague should not have to either. So the API notices a changed stopit.toml (its size, inode
or modification time, checked at each connection and every few seconds) and rereads it on
SIGHUP (`systemctl reload stopit`). The new file is validated as strictly as at start, and the
new staff list against the running organisations; an invalid one is refused, the mistake
logged by name, and the old list kept: a typo never locks staff out or silences the service.
Only the staff list (and `staff_name`) changes live; anything else waits for a restart, and
the log says so.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from pathlib import Path

from stopit_mail.config import CONFIG_FILENAME, Settings, StaffMember, load_settings
from stopit_mail.config.checks import check_values
from stopit_mail.errors import ConfigError

log = logging.getLogger(__name__)
# What a running service takes from a changed file without a restart.
LIVE_KEYS = ("staff", "staff_name")

Signature = tuple[int, int, int, int] | None


def config_file(path: str | Path | None, settings: Settings) -> Path:
    """The configuration file itself (a folder means the stopit.toml inside it)."""
    found = Path(path) if path is not None else settings.base_dir / CONFIG_FILENAME
    return found / CONFIG_FILENAME if found.is_dir() else found


def _signature(path: Path) -> Signature:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _who(members: list[StaffMember]) -> dict[str, StaffMember]:
    return {m.name.lower(): m for m in members}


class StaffReloader:
    """Keeps `settings.staff` in step with the configuration file, refusing any invalid version."""

    def __init__(self, settings: Settings, path: Path) -> None:
        self.settings = settings
        self.path = path
        self._seen = _signature(path)
        self._lock = threading.Lock()
        self.reloads = 0  # staff lists taken (for monitoring and tests)

    def check(self) -> None:
        """Reload when the file changed since last seen (a stat; cheap enough for every connection)."""
        if _signature(self.path) != self._seen:
            self.reload("the file changed", only_if_changed=True)

    def reload(self, why: str, only_if_changed: bool = False) -> bool:
        """Read and validate the file; take its staff list if valid. False (and logged) if refused."""
        with self._lock:
            signature = _signature(self.path)
            if only_if_changed and signature == self._seen:
                return True  # another thread just did it
            self._seen = signature
            try:
                new = load_settings(self.path)
                problems: list[str] = []
                # The new staff against what is running (organisations change only at restart).
                check_values(dataclasses.replace(self.settings, **{k: getattr(new, k) for k in LIVE_KEYS}), problems)
                if problems:
                    raise ConfigError(problems, str(self.path))
            except ConfigError as exc:
                log.error("staff list NOT reloaded (%s): %s; the service keeps the previous %d staff member(s) "
                          "until the file is fixed", why, exc, len(self.settings.staff))
                return False
            self._take(new, why)
            return True

    def _take(self, new: Settings, why: str) -> None:
        old, now = _who(self.settings.staff), _who(new.staff)
        added = [now[k].name for k in now.keys() - old.keys()]
        removed = [old[k].name for k in old.keys() - now.keys()]
        changed = [now[k].name for k in now.keys() & old.keys() if now[k] != old[k]]
        # One attribute assignment each: a request in flight sees the old list or the new one.
        for key in LIVE_KEYS:
            setattr(self.settings, key, getattr(new, key))
        self.reloads += 1
        log.info("staff list reloaded (%s): %d staff; added: %s; removed: %s; changed: %s", why, len(new.staff),
                 ", ".join(sorted(added)) or "-", ", ".join(sorted(removed)) or "-", ", ".join(sorted(changed)) or "-")
        rest = dataclasses.replace(new, **{k: getattr(self.settings, k) for k in LIVE_KEYS},
                                   base_dir=self.settings.base_dir)
        if rest != self.settings:
            log.warning("stopit.toml has other changes besides [[staff]]; they take effect when the service "
                        "restarts (systemctl restart stopit)")


class ConfigWatcher:
    """A thread that reloads on SIGHUP at once, and otherwise looks at the file every `interval` seconds."""

    def __init__(self, reloader: StaffReloader, interval: float = 2.0) -> None:
        self.reloader = reloader
        self.interval = interval
        self._wake = threading.Event()
        self._hangup = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="stopit-api-config", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def hangup(self) -> None:
        """SIGHUP arrived (called from the signal handler: only sets flags)."""
        self._hangup = True
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping:
                return
            try:
                if self._hangup:
                    self._hangup = False
                    self.reloader.reload(f"SIGHUP to pid {os.getpid()}")
                else:
                    self.reloader.check()
            except Exception:  # a bug here must not stop the watching (nor the API)
                log.exception("staff list reload failed")
