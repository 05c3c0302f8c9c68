"""The database schema as SQLAlchemy 2.0 typed models (`from stopit_mail.models import X`).

Split by area to keep modules small: `core` (raw messages, cases, reports, evidence, parties,
events, outbox) and `casework` (escalations, pages, aliases, keys, reviews, web receipts,
offender links, worker heartbeats). Alembic migrations own the schema."""

from stopit_mail.models.casework import (
    CaseAlias,
    Escalation,
    EscalationStatus,
    IdentityKey,
    OffenderLink,
    Page,
    ReadDeadline,
    Review,
    WebPost,
    WebReceipt,
    WorkerHeartbeat,
)
from stopit_mail.models.core import (
    Base,
    Case,
    CaseCounter,
    CaseStatus,
    Completeness,
    Event,
    Evidence,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
    Party,
    RawMessage,
    RawStatus,
    Report,
    _enum,
    utcnow,
)
from stopit_mail.models.doors import RevealRequest, TriageExample
from stopit_mail.models.rollups import StatTally

__all__ = ["Base", "Case", "CaseAlias", "CaseCounter", "CaseStatus", "Completeness", "Escalation", "EscalationStatus", "Event", "Evidence", "IdentityKey", "MessageKind", "OffenderLink", "OutboxMessage", "OutboxStatus", "Page", "Party", "RawMessage", "RawStatus", "ReadDeadline", "Report", "RevealRequest", "Review", "StatTally", "TriageExample", "WebPost", "WebReceipt", "WorkerHeartbeat", "_enum", "utcnow"]
