"""Tables of the doors around cases: reveal requests (two-person reveal) and an organisation's own
reviewed triage examples."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stopit_mail.models.core import Base, utcnow


class RevealRequest(Base):
    """A request to reveal a case's anonymous reporters, waiting for a second person's approval."""

    __tablename__ = "reveal_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | approved | denied
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TriageExample(Base):
    """An organisation's own reviewed example sentence, used beside the shipped triage bank.

    Typically a dismissed false alarm added as a *negative*, so the same wording stops paging.
    """

    __tablename__ = "triage_examples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation: Mapped[str] = mapped_column(String(40), index=True)
    label: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(40))
    sentence: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(16))
    added_by: Mapped[str] = mapped_column(String(120))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source_case: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
