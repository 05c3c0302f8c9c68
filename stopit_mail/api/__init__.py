"""The local staff API: versioned JSON over a Unix socket, the caller named by the kernel.

Requests are one JSON object per line, `{"v": 1, "method": "cases.list", "params": {...}}`;
answers are `{"v": 1, "ok": true, "result": ...}` or `{"v": 1, "ok": false, "error": {"code",
"message"}}`. The socket server reads the peer's uid with SO_PEERCRED and maps it to a [[staff]]
entry by `unix_user`, so who is acting is something the system knows, not something the caller
says. Staff commands are clients of it; the service account (the owner of the data folder) may
dispatch the same methods in-process. This layer sits beside `commands` and `web`: it calls the
services, and no service imports it. docs/api.md documents every method.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stopit_mail.config import Settings

API_VERSION = 1
# `data_dir` and `api.socket` when stopit.toml leaves them out (as in Settings and ApiSettings).
DEFAULT_DATA_DIR = "."
DEFAULT_SOCKET = "run/stopit.sock"


def socket_path(settings: Settings) -> Path:
    """Where the socket lives: `api.socket`, relative to the data folder unless absolute."""
    path = Path(settings.api.socket)
    return path if path.is_absolute() else settings.data_path / path


def socket_in_config(config_path: str | Path) -> Path | None:
    """The socket named by stopit.toml (`data_dir`, `api.socket`), read without validating the rest.

    A command that goes through the service needs only where the socket is: the service
    validated the whole file when it started (and when it reread it), and the cost of
    validating it again here (the schema's dataclasses, every check) would be most of a
    command's start. None when the file cannot be read or the two keys are not plain strings:
    the caller then loads the file in full, which says exactly what is wrong with it. The
    defaults are those of `Settings` (tests/test_api.py compares them).
    """
    import tomllib

    path = Path(config_path)
    try:
        if path.is_dir():
            path = path / "stopit.toml"
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    api = table.get("api", {})
    data_dir = table.get("data_dir", DEFAULT_DATA_DIR)
    socket = api.get("socket", DEFAULT_SOCKET) if isinstance(api, dict) else None
    if not (isinstance(data_dir, str) and isinstance(socket, str) and data_dir.strip() and socket.strip()):
        return None
    data = Path(data_dir)
    data = data if data.is_absolute() else (path.resolve().parent / data).resolve()
    where = Path(socket)
    return where if where.is_absolute() else data / where


def _plain(value: object) -> object:
    """Times as ISO 8601; anything else JSON cannot hold as its text."""
    return value.isoformat() if isinstance(value, date) else str(value)


def encode(answer: dict[str, Any]) -> str:
    """An answer as one line of JSON, exactly as the socket carries it."""
    return json.dumps(answer, ensure_ascii=False, default=_plain)
