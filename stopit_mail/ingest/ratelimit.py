"""Per-peer limits of the listener: simultaneous connections and messages per minute.

A harassment mailbox is a target: one address opening hundreds of connections, or pouring
thousands of messages in, must not starve real reporters. Both limits are keyed by the peer's
IP address and kept in memory (they protect one process; a restart forgets them, which is
harmless). Times come from an injectable clock so tests need not sleep.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]


class ConnectionLimiter:
    """Counts open connections per peer and refuses one above `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, peer: str) -> bool:
        """Take a slot for a new connection; False when the peer already has `limit`."""
        count = self._open.get(peer, 0)
        if count >= self.limit:
            return False
        self._open[peer] = count + 1
        return True

    def release(self, peer: str) -> None:
        """Give a slot back when a connection that `acquire`d one ends."""
        count = self._open.get(peer, 0) - 1
        if count > 0:
            self._open[peer] = count
        else:
            # Forget idle peers so the table cannot grow without bound.
            self._open.pop(peer, None)

    def open_connections(self, peer: str) -> int:
        """How many connections the peer holds now."""
        return self._open.get(peer, 0)


class RateLimiter:
    """At most `limit` events per peer in any sliding window of `window` seconds."""

    def __init__(self, limit: int, window: float = 60.0, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._last_sweep = clock()

    def _recent(self, peer: str, now: float) -> deque[float]:
        events = self._events.setdefault(peer, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def allowed(self, peer: str) -> bool:
        """Whether the peer may start one more event now (does not count it)."""
        return len(self._recent(peer, self.clock())) < self.limit

    def take(self, peer: str) -> bool:
        """Count one event for the peer; False (and not counted) when over the limit."""
        now = self.clock()
        self._sweep(now)
        events = self._recent(peer, now)
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def _sweep(self, now: float) -> None:
        # Once per window, drop peers whose events have all expired (bounded memory).
        if now - self._last_sweep < self.window:
            return
        self._last_sweep = now
        for peer in [p for p, ev in self._events.items() if not ev or ev[-1] <= now - self.window]:
            del self._events[peer]
