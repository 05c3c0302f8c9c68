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


def socket_path(settings: Settings) -> Path:
    """Where the socket lives: `api.socket`, relative to the data folder unless absolute."""
    path = Path(settings.api.socket)
    return path if path.is_absolute() else settings.data_path / path


def _plain(value: object) -> object:
    """Times as ISO 8601; anything else JSON cannot hold as its text."""
    return value.isoformat() if isinstance(value, date) else str(value)


def encode(answer: dict[str, Any]) -> str:
    """An answer as one line of JSON, exactly as the socket carries it."""
    return json.dumps(answer, ensure_ascii=False, default=_plain)
