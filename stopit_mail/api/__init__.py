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

API_VERSION = 1
