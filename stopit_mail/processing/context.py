"""What the handlers of a pipeline share while processing one stored message.

The message is parsed once and its readable body decoded once; every handler reads them from
here. `raw` is a snapshot of the stored row taken at claim time: handlers never write the row
themselves, they put column values in `updates`, and the runner writes them with the status in
one UPDATE that also re-checks the message is still waiting.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from typing import Any, Protocol

from sqlalchemy.orm import Session

from stopit_mail.cases.service import Filed
from stopit_mail.cases.triage import TriageDecision
from stopit_mail.config import Organisation, Settings
from stopit_mail.extract import mime
from stopit_mail.extract.evidence import Extraction
from stopit_mail.ingest.classify import Arrival
from stopit_mail.models import Case
from stopit_mail.outbound.ack_limits import AckKeys
from stopit_mail.outbound.redact.errors import message_identities
from stopit_mail.sealing import Identity


class Quarantine(Exception):
    """Raised by a handler to set a message aside for a person, with a precise reason."""


class Kind(enum.StrEnum):
    """What the chain decided a message is; each kind has its own pipeline."""

    REPORT = "report"
    CASE_REPLY = "case-reply"
    PAGE_ACK = "page-ack"
    BOUNCE = "bounce"
    AUTO_REPLY = "auto-reply"


@dataclass(frozen=True)
class StoredMessage:
    """The stored row as it was claimed (read-only for handlers)."""

    id: int
    content: bytes
    mail_from: str | None
    rcpt_to: list[str]
    received_at: datetime
    attempts: int = 1
    priority: int = 0
    # Stored by a historical import: processed, but nobody is mailed about it.
    no_ack: bool = False
    # Why the stored bytes could not even be read (then `content` is empty): quarantined at once.
    unreadable: str | None = None
    peer: str | None = None
    # Sealed at the 250 (`ingest.atrest`); the fields above hold the opened values.
    sealed: bool = False


@dataclass
class Context:
    """State of one message going through the chain and its kind's pipeline."""

    settings: Settings
    raw: StoredMessage
    organisation: Organisation
    # A read session while the chain decides; the write session during `process`.
    session: Session = None  # type: ignore[assignment]
    message: Message = None  # type: ignore[assignment]
    kind: Kind = Kind.REPORT
    arrival: Arrival | None = None
    # Set by the chain: the case a reply belongs to (and the alias it was filed by: its side is
    # reporter, alleged-sender or office), or the escalations a reply acknowledges.
    case_id: int | None = None
    reply_alias_id: int | None = None
    # Cases whose number a new report quotes in its subject (a hint for staff, never a key).
    mentioned_case_ids: list[int] = field(default_factory=list)
    escalation_ids: list[int] = field(default_factory=list)
    ack_codes: list[str] = field(default_factory=list)
    automatic: str | None = None
    extraction: Extraction | None = None
    decision: TriageDecision | None = None
    bounced_ids: list[str] = field(default_factory=list)
    case: Case | None = None
    # Each evidence item's Message-ID key and fingerprint (the duplicate search's keys, computed
    # by open-case outside the write transaction).
    evidence_keys: list[tuple[str | None, str | None]] | None = None
    # Where open-case filed a new report (its row and its sender's alias, for the acknowledgement).
    filed: Filed | None = None
    # The language the reporter wrote in (guessed outside the transaction, for the acknowledgement).
    language: str | None = None
    # The keyed hashes of the reporter's address and domain (computed with the language).
    ack_keys: AckKeys | None = None
    # The reporter as they wrote to us; kept in memory for the acknowledgement even when the
    # stored copy is sealed (anonymous reports).
    reporter: Identity | None = None
    sealed_identity: str | None = None
    defects: list[str] = field(default_factory=list)
    # Column values of the stored row written with its status at the end (one UPDATE).
    updates: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    _body: str | None = None

    @property
    def body(self) -> str:
        """The message's readable body, decoded once for every handler that reads it."""
        if self._body is None:
            limits = self.settings.limits
            self._body = mime.body_text(self.message, limits.max_nesting_depth, limits.max_parts, self.defects)
        return self._body

    def identities(self) -> list[tuple[str, str]]:
        """Whose traces an error text about this message must not keep: its sender, the reporter."""
        found = message_identities(self.message)
        if self.reporter is not None:
            found.append((self.reporter.name, self.reporter.address))
        return found

    @property
    def subject(self) -> str:
        """The decoded Subject header."""
        return mime.header(self.message, "Subject")


class Handler(Protocol):
    """One named step of a pipeline.

    `prepare` computes outside any transaction (parse, extract, trace, verify, triage, render)
    and must not touch the database; `process` writes, inside the message's one short
    transaction, and may set `done` to end the pipeline. A `side_step` (acknowledge, route)
    never takes the message down with it: its failure is recorded on the case and the message
    still counts as processed.
    """

    name: str
    side_step: bool

    def prepare(self, ctx: Context) -> None: ...

    def process(self, ctx: Context) -> None: ...


class Step:
    """Base of the built-in handlers: nothing to prepare, nothing to write, not a side step."""

    name = ""
    side_step = False

    def prepare(self, ctx: Context) -> None:
        """Compute what `process` will write (outside the transaction)."""

    def process(self, ctx: Context) -> None:
        """Write the results (inside the message's transaction)."""
