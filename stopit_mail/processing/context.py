"""What the handlers of the pipeline share while processing one stored message."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from typing import Protocol

from sqlalchemy.orm import Session

from stopit_mail.config import Organisation, Settings
from stopit_mail.extract.evidence import Extraction
from stopit_mail.ingest.classify import Arrival
from stopit_mail.models import Case, CaseAlias, RawMessage
from stopit_mail.sealing import Identity


class Quarantine(Exception):
    """Raised by a handler to set a message aside for a person, with a precise reason."""


@dataclass
class Context:
    """State of one message going through the pipeline, inside one transaction."""

    session: Session
    settings: Settings
    raw: RawMessage
    content: bytes
    organisation: Organisation
    message: Message | None = None
    arrival: Arrival | None = None
    extraction: Extraction | None = None
    case: Case | None = None
    # The case alias a reply was filed by (its side: reporter, alleged-sender, office).
    reply_alias: CaseAlias | None = None
    # The reporter as they wrote to us; kept in memory for the acknowledgement even when the
    # stored copy is sealed (anonymous reports).
    reporter: Identity | None = None
    sealed_identity: str | None = None
    # The readable body of a reply, decoded once by file-reply and read again by triage-reply.
    reply_text: str = ""
    defects: list[str] = field(default_factory=list)
    done: bool = False


class Handler(Protocol):
    """One named step: reads and extends the context; sets `done` to end the pipeline."""

    name: str

    def process(self, ctx: Context) -> None: ...
