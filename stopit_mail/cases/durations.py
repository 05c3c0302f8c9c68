"""Durations as staff read them, apart from the figures' queries.

`stopit stats` prints its answer through the running service, so its formatting must not need
SQLAlchemy (tests/test_startup.py).
"""

from __future__ import annotations


def format_duration(seconds: float | None) -> str:
    """'45 min', '3 h 20 min', '2.5 days', or 'n/a' when nothing was measured."""
    if seconds is None:
        return "n/a"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours / 24:.1f} days"
