"""Whether the worker's bank of reviewed examples is ready, still embedding, or failed.

The worker embeds (or reads) the bank in the background at start-up, and until it is done every
report is triaged on the rules alone and raised to at least *urgent*. Staff must be able to see
that: `stopit status` runs in another process (the service's API), so the worker records its state
in a small JSON file in the data folder's cache, written atomically, and `status` reads it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

# The data folder's cache (``<data>/cache``), where the worker keeps its bank caches too.
CACHE_FOLDER = "cache"
STATE_FILE = "triage-bank-state.json"
EMBEDDING, READY, FAILED = "embedding", "ready", "failed"


def record(folder: Path | None, state: str, detail: str) -> None:
    """Write the bank's state for `stopit status` (best effort: a full disk never stops triage)."""
    if folder is None:
        return
    path = folder / STATE_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps({"state": state, "detail": detail, "pid": os.getpid(),
                                       "at": time.time()}), encoding="utf-8")
        partial.replace(path)
    except OSError:
        pass


def read(folder: Path) -> dict[str, Any]:
    """``{state, detail, since}``; a worker that died while embedding reads as *failed*."""
    try:
        data = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        state, detail, pid, at = str(data["state"]), str(data["detail"]), int(data["pid"]), float(data["at"])
    except FileNotFoundError:
        return {"state": "not-started", "detail": "no worker has loaded the reviewed examples yet", "since": None}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"state": "unknown", "detail": f"{STATE_FILE} unreadable: {exc}", "since": None}
    if state == EMBEDDING and not _alive(pid):
        state, detail = FAILED, f"the worker (pid {pid}) stopped while embedding: {detail}"
    return {"state": state, "detail": detail, "since": at}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
