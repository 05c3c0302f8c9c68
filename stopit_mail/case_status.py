"""Where a case stands in staff work, apart from the models.

The staff commands offer these values as choices when they are declared; a command that only asks
the running service must not pay for SQLAlchemy to learn them. `stopit_mail.models` re-exports it.
"""

from __future__ import annotations

import enum


class CaseStatus(enum.StrEnum):
    """Where a case stands in staff work."""

    NEW = "new"
    TRIAGED = "triaged"
    NOTICE_SENT = "notice-sent"
    REFERRED = "referred"
    WAITING = "waiting"
    RESOLVED = "resolved"
    CLOSED = "closed"
