"""The staff API on a Unix socket: one JSON request per line, one answer per line.

The kernel, not the request, says who is calling: SO_PEERCRED gives the peer's uid, which
`identity.caller_for` maps to the service account or to a [[staff]] entry by `unix_user`. The
socket is mode 0660, owned by `api.group`, so only the staff group can connect at all.
"""

from __future__ import annotations

import contextlib
import grp
import json
import logging
import os
import signal
import socket
import socketserver
import struct
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from stopit_mail.api import encode, socket_path
from stopit_mail.api.identity import caller_for
from stopit_mail.api.registry import dispatch, split_body
from stopit_mail.api.reload import ConfigWatcher, StaffReloader, config_file
from stopit_mail.errors import StopitError

if TYPE_CHECKING:
    from stopit_mail.app import App

log = logging.getLogger(__name__)
# The longest request line read: a reply text or a note is far smaller.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
SOCKET_MODE = 0o660


def peer_uid(conn: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket (Linux SO_PEERCRED)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class _Handler(socketserver.StreamRequestHandler):
    """Answer each request line of one connection, as the connection's peer."""

    server: ApiServer

    def handle(self) -> None:
        # An admin's edit of [[staff]] counts from the next connection on (api/reload.py).
        self.server.reloader.check()
        caller = caller_for(self.server.app.settings, peer_uid(self.request))
        while True:
            line = self.rfile.readline(MAX_REQUEST_BYTES + 1)
            if not line:
                return
            answer: dict[str, Any]
            if len(line) > MAX_REQUEST_BYTES:
                answer = {"v": 1, "ok": False, "error": {"code": "too-large", "message": "request too large"}}
                self._send(answer)
                return
            try:
                request = json.loads(line)
            except ValueError:
                answer = {"v": 1, "ok": False, "error": {"code": "bad-request", "message": "not JSON"}}
            else:
                answer = dispatch(self.server.app, caller, request)
            self.server.requests_served += 1
            answer, body = split_body(answer)
            self._send(answer)
            if body is not None and not self._send_body(body):
                return

    def _send(self, answer: dict[str, Any]) -> None:
        self.wfile.write(encode(answer).encode("utf-8") + b"\n")
        self.wfile.flush()

    def _send_body(self, body: IO[bytes]) -> bool:
        """Send a streamed answer's bytes straight from its spool file; False when the caller left."""
        try:
            self.request.sendfile(body)
            return True
        except OSError as exc:
            log.warning("staff API: the caller left during a streamed answer (%s)", exc.strerror or exc)
            return False
        finally:
            body.close()


class ApiServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The socket server; `start()` runs it in a thread, `stop()` closes it and removes the socket."""

    daemon_threads = True
    # Requests answered since start (a figure for monitoring, and proof a command came this way).
    requests_served = 0

    def __init__(self, app: App, config_path: str | Path | None = None) -> None:
        self.app = app
        self.reloader = StaffReloader(app.settings, config_file(config_path, app.settings))
        self._watcher: ConfigWatcher | None = None
        self._previous_hup: Any = None
        self.path = socket_path(app.settings)
        gid = _group_id(app.settings.api.group)
        restrict_data_folder(app.settings.data_path, self.path)
        _prepare(self.path, gid, app.settings.data_path)
        super().__init__(str(self.path), _Handler)
        os.chmod(self.path, SOCKET_MODE)
        if gid != -1:
            os.chown(self.path, -1, gid)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="stopit-api", daemon=True)
        self._thread.start()
        self._watcher = ConfigWatcher(self.reloader)
        self._watcher.start()
        if threading.current_thread() is threading.main_thread():
            # SIGHUP (systemctl reload) rereads the staff list at once; unhandled, it would end the service.
            watcher = self._watcher
            self._previous_hup = signal.signal(signal.SIGHUP, lambda _signum, _frame: watcher.hangup())
        log.info("staff API listening on %s (staff list from %s, reread on change or SIGHUP)", self.path,
                 self.reloader.path)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving and remove the socket file."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._previous_hup is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGHUP, self._previous_hup)
            self._previous_hup = None
        self.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _group_id(group: str) -> int:
    """The gid of `api.group` (-1: leave the service's own group)."""
    if not group:
        return -1
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise StopitError(f"api.group: there is no group {group!r} on this machine (create it: groupadd "
                          f"{group}, and add the staff and the service account to it)") from None


def restrict_data_folder(data_path: Path, socket: Path) -> None:
    """The database, keys and raw store belong to the service account alone.

    The data folder becomes 0700 (0711 when the socket lives inside it, so staff may pass
    through to it without listing anything); everything directly inside it loses group and
    other access, except the socket's folder. Only ever tightens, and only what we own.
    """
    uid = os.geteuid()
    inside = data_path in socket.parents
    if data_path.stat().st_uid == uid:
        data_path.chmod(0o711 if inside else 0o700)
    for entry in data_path.iterdir():
        if entry.is_symlink() or (inside and entry in socket.parents) or entry.stat().st_uid != uid:
            continue
        mode = entry.stat().st_mode & 0o777
        if mode & 0o077:
            entry.chmod(mode & 0o700)


def _prepare(path: Path, gid: int, data_path: Path) -> None:
    """Create the socket's folder (0750, the staff group), and remove a stale socket nobody answers on."""
    folder = path.parent
    ours = not folder.exists() or data_path in folder.parents
    folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    # Only a folder made for the socket is changed (never, say, /tmp); systemd's RuntimeDirectory
    # sets its own mode and group (docs/deployment.md).
    if ours and folder.stat().st_uid == os.geteuid():
        folder.chmod(0o750)
        if gid != -1:
            os.chown(path.parent, -1, gid)
    if not path.exists() and not path.is_symlink():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # left behind by a service that died
    else:
        raise StopitError(f"another stopit service already answers on {path}")
    finally:
        probe.close()


def start_api(app: App, config_path: str | Path | None = None) -> ApiServer | None:
    """Start the staff API for `stopit serve`, or log why not (mail keeps flowing either way)."""
    if not app.settings.api.enabled:
        return None
    try:
        server = ApiServer(app, config_path)
    except (OSError, StopitError) as exc:
        # Staff commands then say the service is not running; intake and paging must not stop.
        log.error("staff API not started on %s: %s", socket_path(app.settings), exc)
        return None
    server.start()
    return server
