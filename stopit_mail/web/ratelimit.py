"""Short-lived in-memory counters for rate limits, keyed without keeping addresses.

A client is counted under an HMAC of its address with a key made when the process starts
and never written anywhere, so the counters can limit abuse but cannot say who made a report,
and they vanish with the process (or after their window). Nothing here is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

MAX_KEYS = 100_000


class Counters:
    """Fixed-window counters: `allow(scope, who, limit)` counts one hit and says if it is allowed."""

    def __init__(self, window_seconds: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._key = secrets.token_bytes(32)
        self._window = window_seconds
        self._clock = clock
        self._counts: dict[bytes, list[float]] = {}
        self._lock = threading.Lock()

    def _slot(self, scope: str, who: str) -> bytes:
        return hmac.new(self._key, f"{scope}\0{who}".encode(), hashlib.sha256).digest()

    def allow(self, scope: str, who: str, limit: int) -> bool:
        """Count a hit for `who` in `scope`; False once more than `limit` hits fell in the window."""
        now = self._clock()
        slot = self._slot(scope, who)
        with self._lock:
            entry = self._counts.get(slot)
            if entry is None or now - entry[0] >= self._window:
                if len(self._counts) >= MAX_KEYS:
                    self._purge(now)
                entry = [now, 0.0]
                self._counts[slot] = entry
            entry[1] += 1
            return entry[1] <= limit

    def exceeded(self, scope: str, who: str, limit: int) -> bool:
        """Whether `who` is already over the limit, without counting a hit."""
        now = self._clock()
        with self._lock:
            entry = self._counts.get(self._slot(scope, who))
            return entry is not None and now - entry[0] < self._window and entry[1] >= limit

    def _purge(self, now: float) -> None:
        for slot in [s for s, (start, _n) in self._counts.items() if now - start >= self._window]:
            del self._counts[slot]
        if len(self._counts) >= MAX_KEYS:
            # Still full of live windows (a flood): forget the oldest half rather than grow.
            for slot in sorted(self._counts, key=lambda s: self._counts[s][0])[: MAX_KEYS // 2]:
                del self._counts[slot]
