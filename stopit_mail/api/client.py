"""Calling the staff API: over the service's socket when it answers, else in-process.

The in-process path is only for the service account (the owner of the data folder): it holds
the database and keys anyway, and it dispatches the very same methods with its own uid as the
caller. Anyone else gets a clear message that the service is not running.
"""

from __future__ import annotations

import hashlib
import json
import socket
from typing import IO, TYPE_CHECKING, Any

from stopit_mail.api import API_VERSION, encode, socket_path
from stopit_mail.errors import StopitError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from stopit_mail.app import App
    from stopit_mail.config import Settings


class ApiCallError(StopitError):
    """The service answered with an error; `code` is the stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ServiceNotRunning(StopitError):
    """Nothing answers on the socket."""


def request(method: str, params: dict[str, Any], as_name: str | None = None) -> dict[str, Any]:
    """A request object for `method` (None-valued parameters left out)."""
    body: dict[str, Any] = {"v": API_VERSION, "method": method,
                            "params": {k: v for k, v in params.items() if v is not None}}
    if as_name:
        body["as"] = as_name
    return body


def receive(stream: IO[bytes], answer: dict[str, Any], sink: IO[bytes] | None) -> None:
    """Copy the bytes a streamed answer announces (`stream.size`, `stream.sha256`) into `sink`, checked.

    A chunk at a time, so a large evidence package never sits in memory whole.
    """
    announced = answer.get("stream")
    if not answer.get("ok") or not isinstance(announced, dict):
        return
    if sink is None:
        raise StopitError("the service sent a package this command did not ask for")
    left, digest = int(announced["size"]), hashlib.sha256()
    while left:
        chunk = stream.read(min(left, 1 << 16))
        if not chunk:
            raise StopitError(f"the stopit service stopped sending with {left} bytes still to come; nothing "
                              "was kept (try again)")
        digest.update(chunk)
        sink.write(chunk)
        left -= len(chunk)
    if digest.hexdigest() != announced["sha256"]:
        raise StopitError("what the stopit service sent does not match its SHA-256; nothing was kept (try again)")


def over_socket(path: Path, body: dict[str, Any], timeout: float = 120.0,
                sink: IO[bytes] | None = None) -> dict[str, Any]:
    """Send one request to the service listening on `path`; ServiceNotRunning when nothing answers.

    A streamed answer's bytes go to `sink`.
    """
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        try:
            conn.connect(str(path))
        except PermissionError as exc:
            raise StopitError(f"you may not connect to the stopit service at {path}: staff accounts belong to "
                              f"the group set in api.group (ask an admin)") from exc
        except OSError as exc:
            raise ServiceNotRunning(f"the stopit service is not running (nothing answers on {path})") from exc
        try:
            conn.sendall(json.dumps(body).encode("utf-8") + b"\n")
            with conn.makefile("rb") as stream:
                line = stream.readline()
                if not line:
                    raise StopitError(f"the stopit service at {path} closed the connection without answering")
                answer: dict[str, Any] = json.loads(line)
                receive(stream, answer, sink)
        except TimeoutError as exc:
            raise StopitError(f"the stopit service at {path} did not answer within {timeout:g} s "
                              f"({body.get('method')}); its log may say why") from exc
        except OSError as exc:
            raise StopitError(f"the connection to the stopit service at {path} failed: {exc}") from exc
    finally:
        conn.close()
    return answer


def result_of(answer: dict[str, Any]) -> Any:
    """The result of an answer, or ApiCallError with its code and message."""
    if answer.get("ok"):
        return answer.get("result")
    error = answer.get("error") or {}
    raise ApiCallError(str(error.get("code", "internal")), str(error.get("message", "the service failed")))


def call(socket_hint: Path | None, load_settings: Callable[[], Settings], open_app: Callable[[], App], method: str,
         params: dict[str, Any], as_name: str | None = None, sink: IO[bytes] | None = None) -> Any:
    """Call `method`: through the service when it answers, else in-process as the service account.

    `socket_hint` is where the socket is when known without loading the configuration
    (`api.socket_in_config`); the configuration is loaded, and validated, only when the
    service does not answer there. `sink` receives the bytes of a streamed answer (an evidence package).
    """
    body = request(method, params, as_name)
    # Building a large package takes a while before its first byte.
    timeout = 900.0 if sink else 120.0
    tried = None
    if socket_hint is not None:
        try:
            return result_of(over_socket(socket_hint, body, timeout, sink))
        except ServiceNotRunning:
            tried = socket_hint
    settings = load_settings()
    if socket_path(settings) != tried:
        try:
            return result_of(over_socket(socket_path(settings), body, timeout, sink))
        except ServiceNotRunning:
            pass
    # Imported only here: a client of the socket needs neither SQLAlchemy nor the services.
    from stopit_mail.api.identity import check_service_account
    from stopit_mail.api.registry import dispatch, split_body

    caller = check_service_account(settings)

    answer, streamed = split_body(dispatch(open_app(), caller, body, reraise=True))
    if streamed is not None:
        with streamed:
            receive(streamed, answer, sink)
    # Exactly what the socket would have carried (times as ISO strings, tuples as lists), so a
    # command behaves the same whichever way it went.
    return result_of(json.loads(encode(answer)))
