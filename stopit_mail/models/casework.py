"""Casework tables: escalations, reviews, read deadlines, pages, per-counterpart aliases,
identity keys, offender links, web receipts and worker heartbeats."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from stopit_mail.models.core import Base, _enum, utcnow


class OffenderLink(Base):
    """A staff member's judgement that two cases have the same alleged sender."""

    __tablename__ = "offender_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    other_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CaseAlias(Base):
    """One unguessable address of a case for one counterpart: a reporter, the alleged sender, an office.

    Replies are filed by the alias they were written to (or by threading on mail sent from it),
    so each counterpart's answers land on their own side and no counterpart ever learns
    another's code.
    """

    __tablename__ = "case_aliases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    side: Mapped[str] = mapped_column(String(20))  # reporter | alleged-sender | office
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    office: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IdentityKey(Base):
    """Public halves of the identity keys: sealing needs only these, so a lost secret key never
    stops intake (it only stops reveals and delivery to anonymous reporters)."""

    __tablename__ = "identity_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class EscalationStatus(enum.StrEnum):
    """Where an emergency's paging stands."""

    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    EXHAUSTED = "exhausted"
    # Ended without a person stopping it: a review whose window passed (the chain was paged
    # instead), or a review or unread-report page superseded by the emergency chain.
    CLOSED = "closed"


class Escalation(Base):
    """An emergency being paged through a chain until someone acknowledges it.

    The deadline of the current step is stored, so escalation continues across restarts: a
    worker that starts late pages every step whose deadline has passed, in order.
    """

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    chain: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    step: Mapped[int] = mapped_column(Integer, default=-1)
    next_deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ack_code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[EscalationStatus] = mapped_column(
        _enum(EscalationStatus, "escalation_status"), default=EscalationStatus.ACTIVE)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    steps: Mapped[list[Any]] = mapped_column(default=list)
    # 'emergency' (the chain), 'review' (a possible emergency paged to the on-call reviewer),
    # or 'unread' (a report nobody opened by its deadline, paged to the chain).
    kind: Mapped[str] = mapped_column(String(20), default="emergency", server_default="emergency")

    __table_args__ = (Index("ix_escalations_due", "status", "next_deadline"),)


class Review(Base):
    """A reviewer's decision on a possible emergency: confirmed, dismissed, or no answer in time.

    A dismissal keeps who and why, so it can become a reviewed negative example later.
    """

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    decision: Mapped[str] = mapped_column(String(20))  # confirmed | dismissed | expired
    decided_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    via: Mapped[str] = mapped_column(String(20))  # command | reply | window
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReadDeadline(Base):
    """When a case must first be opened by a person, and when (and by whom) it was."""

    __tablename__ = "read_deadlines"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    urgency: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seen_by: Mapped[str | None] = mapped_column(String(200))
    seen_via: Mapped[str | None] = mapped_column(String(40))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The newest report counted: a later one on a case already read makes it unread again.
    last_report_id: Mapped[int | None] = mapped_column(Integer, index=True)

    __table_args__ = (Index("ix_read_deadlines_due", "seen_at", "escalated_at", "due_at"),)


class Page(Base):
    """One page sent to one step of an escalation chain."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    contact: Mapped[str] = mapped_column(String(120))
    addresses: Mapped[list[Any]] = mapped_column(default=list)
    paged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))

    __table_args__ = (UniqueConstraint("escalation_id", "step"),)


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


class WorkerHeartbeat(Base):
    """A running worker says it is alive and how far it got, for the watchdog and `stopit status`."""

    __tablename__ = "worker_heartbeats"

    worker: Mapped[str] = mapped_column(String(120), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed: Mapped[int] = mapped_column(Integer, default=0)
