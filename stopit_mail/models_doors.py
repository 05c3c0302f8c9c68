"""Tables of the doors onto the cases: the web door's receipts and posts, staff reveal requests.

Split from `models.py` (which re-exports them) to keep that module under the size limit; they
share its `Base`, so Alembic and `create_all` see them like every other table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stopit_mail.models import Base, utcnow


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


class WebReceipt(Base):
    """A web report's receipt: the reporter's only key to check back, stored as an argon2 hash.

    `lookup` is a SHA-256 of the code's first group (to find the row without scanning);
    `code_hash` is an argon2id hash of the whole code with its own salt. Neither gives the code back.
    """

    __tablename__ = "web_receipts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lookup: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str] = mapped_column(Text)
    raw_message_id: Mapped[int] = mapped_column(ForeignKey("raw_messages.id"), unique=True)
    organisation: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebPost(Base):
    """A web reporter's answer on check-back, stored as a raw message like a mail reply."""

    __tablename__ = "web_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("web_receipts.id"), index=True)
    raw_message_id: Mapped[int] = mapped_column(ForeignKey("raw_messages.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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
