"""Import messages from files, mboxes, Maildirs and stdin: store each, then process it.

Storing comes first and is committed on its own, so an import interrupted at any point
loses nothing; running the same import again stores nothing twice and processes only what
was left waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from stopit_mail.app import App
from stopit_mail.cases.pretriage import prioritiser
from stopit_mail.errors import StopitError
from stopit_mail.ingest.atrest import AtRest
from stopit_mail.ingest.rawstore import Envelope, store_raw
from stopit_mail.ingest.sources import SourceError, iter_path, recipients_from_headers
from stopit_mail.processing.runner import process_message


class NoOrganisation(StopitError):
    """A message names no organisation's mailbox, and there are several to choose from."""


@dataclass
class IngestSummary:
    """Counts shown at the end of `stopit ingest`."""

    stored: int = 0
    duplicates: int = 0
    processed: int = 0
    quarantined: int = 0
    cases: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly counts."""
        return {"stored": self.stored, "duplicates": self.duplicates, "processed": self.processed,
                "quarantined": self.quarantined, "cases": sorted(self.cases), "errors": self.errors}


def ingest_one(app: App, content: bytes, envelope: Envelope, summary: IngestSummary) -> None:
    """Store one message and process it if it is waiting (new, or left by a crash)."""
    # No size limit here: an oversized file is stored, then quarantined by check-size.
    casework = app.settings.casework
    result = store_raw(app.factory, content, envelope,
                       prioritise=prioritiser(casework.triage_rules, casework.disabled_triage_rules),
                       at_rest=AtRest(app.settings))
    if result.created:
        summary.stored += 1
    else:
        summary.duplicates += 1
    outcome = process_message(app.factory, app.settings, result.raw_id)
    if outcome.status == "processed":
        summary.processed += 1
        if outcome.case_number:
            summary.cases.add(outcome.case_number)
    elif outcome.status == "quarantined":
        summary.quarantined += 1


def addressed(app: App, content: bytes, envelope: Envelope, recipient: str | None,
              acknowledge: bool) -> Envelope:
    """The envelope to store with: the recipient given, or the one the delivering MTA recorded.

    Raises NoOrganisation when an installation with several organisations cannot tell
    which one a message was sent to: filing it in the first would be a silent guess.
    """
    rcpt_to = [recipient] if recipient else list(envelope.rcpt_to) or recipients_from_headers(content)
    settings = app.settings
    if len(settings.organisations) > 1 and not any(settings.organisation_for(a) for a in rcpt_to):
        shown = ", ".join(rcpt_to) or "no recipient"
        raise NoOrganisation(f"{envelope.source_ref or envelope.source}: {shown} is not the mailbox of any "
                             "organisation; say which with --recipient ADDRESS")
    return replace(envelope, rcpt_to=rcpt_to, acknowledge=acknowledge)


def ingest_paths(
    app: App, paths: Iterable[str], on_message: Callable[[], None] | None = None,
    recipient: str | None = None, acknowledge: bool = True,
) -> IngestSummary:
    """Ingest every message under `paths`; unreadable paths and unaddressed messages are reported, not fatal."""
    summary = IngestSummary()
    for path in paths:
        try:
            for content, envelope in iter_path(path):
                try:
                    ingest_one(app, content, addressed(app, content, envelope, recipient, acknowledge), summary)
                except NoOrganisation as exc:
                    summary.errors.append(str(exc))
                if on_message:
                    on_message()
        except (OSError, SourceError) as exc:
            summary.errors.append(str(exc) if isinstance(exc, SourceError) else f"{path}: {exc}")
    return summary
