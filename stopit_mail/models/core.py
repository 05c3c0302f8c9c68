"""Raw messages, cases, reports, evidence, parties, events and the outbox.

Raw messages are the source of truth: everything else (cases, reports, evidence, parties) is
derived from them by processing and could be rebuilt. Bulky columns (message bytes, evidence
bytes) are deferred so that listings never load them.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

from stopit_mail.case_status import CaseStatus


def utcnow() -> datetime:
    """Timezone-aware now, in UTC (the only timezone stored)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base; JSON columns map to plain Python structures."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class RawStatus(enum.StrEnum):
    """Processing state of a stored message."""

    RECEIVED = "received"
    PROCESSED = "processed"
    QUARANTINED = "quarantined"


class MessageKind(enum.StrEnum):
    """What a stored message turned out to be."""

    UNKNOWN = "unknown"
    REPORT = "report"
    REPLY = "reply"
    BOUNCE = "bounce"
    AUTO_REPLY = "auto-reply"


class Completeness(enum.StrEnum):
    """How much of an offending message the evidence preserves."""

    FULL = "full"  # original bytes with every header: can be traced and verified
    HEADERS = "headers"  # pasted headers without the original body bytes
    SUMMARY = "summary"  # only the few fields an inline forward shows
    FILE = "file"  # not a message: a screenshot, video, document


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e], native_enum=False, length=20)


class RawMessage(Base):
    """One inbound message, byte for byte, with its envelope, stored before any processing."""

    __tablename__ = "raw_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(Text)
    mail_from: Mapped[str | None] = mapped_column(Text)
    rcpt_to: Mapped[list[Any]] = mapped_column(default=list)
    peer: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[RawStatus] = mapped_column(_enum(RawStatus, "raw_status"), default=RawStatus.RECEIVED)
    kind: Mapped[MessageKind] = mapped_column(_enum(MessageKind, "message_kind"), default=MessageKind.UNKNOWN)
    reason: Mapped[str | None] = mapped_column(Text)
    defects: Mapped[list[Any]] = mapped_column(default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    # Stored by a historical import: processed like any report, but nobody is mailed about it.
    no_ack: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set at store time by a cheap pre-triage: emergencies are claimed before the backlog.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # An emergency's page facts from that pre-triage (rules, where, when, who; never who reported):
    # its bytes are sealed, and a lost key must not blind its page (`cases.page_facts`).
    page_facts: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    # A worker's lease on the message while it computes outside any transaction.
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_raw_messages_status", "status", "id"),
        Index("ix_raw_messages_claim", "status", "priority", "id"),
    )


class Case(Base):
    """A matter staff work on: one or more reports about the same offending message(s)."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status", "status", "id"),
        Index("ix_cases_urgency", "urgency", "id"),
        Index("ix_cases_opened_at", "opened_at"),
        Index("ix_cases_organisation", "organisation", "id"),
        # `stats` walks it in order for the median and 90th percentile; the other columns are what
        # it filters by, so the walk never reads the table.
        Index("ix_cases_assigned_to", "assigned_to", "id"),
        Index("ix_cases_first_staff", "first_staff_seconds", "merged_into_id", "organisation", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    reporter_code: Mapped[str] = mapped_column(String(32), unique=True)
    organisation: Mapped[str] = mapped_column(String(40))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus, "case_status"), default=CaseStatus.NEW)
    title: Mapped[str] = mapped_column(Text, default="")
    urgency: Mapped[str] = mapped_column(String(24), default="routine")
    categories: Mapped[list[Any]] = mapped_column(default=list)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    triage: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    assigned_to: Mapped[str | None] = mapped_column(String(120))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    identity_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    sender_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    resolution: Mapped[str | None] = mapped_column(Text)
    # The configured outcome code it was closed with (casework.outcomes), for statistics.
    outcome: Mapped[str | None] = mapped_column(String(40), index=True)
    # The language the reporter wrote in (ISO 639-1): what we answer them in.
    language: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)  # `cases hold`: retention never purges it
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # content purged; a stub stays
    # Seconds from opening to the first event a person caused (kept by triggers, see cases/rollups.py).
    first_staff_seconds: Mapped[float | None] = mapped_column(Float)

    reports: Mapped[list[Report]] = relationship(back_populates="case", order_by="Report.id")
    evidence: Mapped[list[Evidence]] = relationship(back_populates="case", order_by="Evidence.id")
    parties: Mapped[list[Party]] = relationship(back_populates="case", order_by="Party.id")


class CaseCounter(Base):
    """The last case number handed out per prefix and year (numbers never repeat)."""

    __tablename__ = "case_counters"

    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Report(Base):
    """One reporter's message about a case (the forwarding wrapper around the evidence)."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    raw_message_id: Mapped[int] = mapped_column(ForeignKey("raw_messages.id"), unique=True)
    reporter_address: Mapped[str | None] = mapped_column(Text)
    reporter_name: Mapped[str | None] = mapped_column(Text)
    # For anonymous reporters the address and name above stay empty; this holds them encrypted.
    sealed_identity: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    wrapper_text: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # "reporter", or "alleged-sender" when the sender forwarded mail they wrote themselves: such a
    # report is kept apart from the reporters (no reporter code of theirs is ever disclosed to them).
    sender_role: Mapped[str] = mapped_column(String(20), default="reporter", server_default="reporter")

    case: Mapped[Case] = relationship(back_populates="reports")


class Evidence(Base):
    """One offending message or file recovered from a report."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    completeness: Mapped[Completeness] = mapped_column(_enum(Completeness, "completeness"))
    mime_path: Mapped[str] = mapped_column(String(64), default="")
    content_type: Mapped[str | None] = mapped_column(String(255))
    filename: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    orig_from_address: Mapped[str | None] = mapped_column(Text)
    orig_from_name: Mapped[str | None] = mapped_column(Text)
    orig_to: Mapped[list[Any]] = mapped_column(default=list)
    orig_cc: Mapped[list[Any]] = mapped_column(default=list)
    orig_date: Mapped[str | None] = mapped_column(Text)
    orig_subject: Mapped[str | None] = mapped_column(Text)
    orig_message_id: Mapped[str | None] = mapped_column(Text)
    header_block: Mapped[str | None] = deferred(mapped_column(Text))
    body_text: Mapped[str | None] = deferred(mapped_column(Text))
    message_id_key: Mapped[str | None] = mapped_column(String(255), index=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    problems: Mapped[list[Any]] = mapped_column(default=list)
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    case: Mapped[Case] = relationship(back_populates="evidence")


class Party(Base):
    """A person involved in a case: reporter, alleged sender, or other recipient."""

    __tablename__ = "parties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(Text, default="")
    display_name: Mapped[str] = mapped_column(Text, default="")
    domain: Mapped[str] = mapped_column(Text, default="")

    case: Mapped[Case] = relationship(back_populates="parties")

    __table_args__ = (UniqueConstraint("case_id", "role", "address", "display_name"),
                      Index("ix_parties_role_address", "role", "address"),
                      Index("ix_parties_role_name", "role", "display_name"))


class Event(Base):
    """Append-only log of everything that happened: the case timeline and the audit trail."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_case_staff", "case_id", "automatic", "at"),
        # `stats` counts delivered notices among millions of events; a partial index holds only those
        # (migration 0013 gives PostgreSQL the same condition: naming it here would import that
        # dialect into every staff command).
        Index("ix_events_notice_sent", "action", "case_id", sqlite_where=text("action = 'notice-sent'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    # The Unix account the kernel named for a staff action (API peer credentials or the service
    # account's own uid); with `--as` it differs from `actor`, so both names stay on record.
    unix_user: Mapped[str | None] = mapped_column(String(64), default=None)


class OutboxStatus(enum.StrEnum):
    """Delivery state of an outgoing message."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    """One outgoing message, written in the same transaction as the change that causes it.

    `dedup_key` (e.g. "ack:<raw id>") makes the cause-to-message mapping unique, so no path
    through the code can queue the same acknowledgement twice.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    envelope_from: Mapped[str] = mapped_column(Text, default="")
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    # Keyed hash of the (first) recipient: rate limits count by it without unsealing anyone.
    recipient_key: Mapped[str | None] = mapped_column(String(64))
    # Keyed hash of the recipient's "@domain": acknowledgements are limited per domain too.
    domain_key: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The case alias this message was sent from: a reply threading on its Message-ID is filed
    # on that alias's side (reporter, alleged sender, office).
    alias_id: Mapped[int | None] = mapped_column(ForeignKey("case_aliases.id"))
    # Pages and emergency acknowledgements (higher) are delivered before anything else.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_priority", "status", "priority", "next_attempt_at"),
        Index("ix_outbox_recipient", "kind", "recipient_key", "created_at"),
        Index("ix_outbox_domain", "kind", "domain_key", "created_at"),
    )
