"""An organisation's own reviewed examples for the triage model (`stopit triage examples`).

The shipped bank cannot know every school's slang or every false alarm; a reviewer who dismisses a
page can make the sentence that triggered it a *negative* example for their organisation (`add
--from-case`), and the detector weighs it beside the shipped bank from the next report on, so the
same wording stops paging there. Examples are data in the database, audited like any staff action.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.detect.bank import LABELS, Example
from stopit_mail.cases.detect.language import UNDETERMINED, identify
from stopit_mail.cases.staff import Actor, PermissionDenied
from stopit_mail.cases.triage import CATEGORIES
from stopit_mail.errors import StopitError
from stopit_mail.models import Case, TriageExample

MAX_SENTENCE_CHARS = 500


class ExampleRefused(StopitError):
    """The example cannot be added or removed as asked; the message says why."""


def triggering_sentence(case: Case) -> str:
    """The sentence that made triage raise ``case``: the model's top resemblance, else a rule's words."""
    automatic = (case.triage or {}).get("automatic") or {}
    for resemblance in automatic.get("resemblances") or []:
        if resemblance.get("label") != "negative" and resemblance.get("sentence"):
            return str(resemblance["sentence"])
    for match in automatic.get("matches") or []:
        if match.get("matched_text"):
            return str(match["matched_text"])
    raise ExampleRefused(f"{case.number}: triage recorded no sentence that raised it; give the sentence instead")


def add_example(session: Session, actor: Actor, organisation: str, label: str, category: str,
                sentence: str, *, language: str | None = None, case: Case | None = None,
                reason: str = "") -> TriageExample:
    """Store one reviewed example for ``organisation`` and record who added it and why."""
    if not actor.may_see(organisation):
        raise PermissionDenied(f"{actor.name} does not work for organisation {organisation!r}")
    if label not in LABELS:
        raise ExampleRefused(f"unknown label {label!r}; expected {', '.join(LABELS)}")
    if category not in CATEGORIES:
        raise ExampleRefused(f"unknown category {category!r}; expected {', '.join(CATEGORIES)}")
    text = " ".join((sentence or "").split())
    if not text:
        raise ExampleRefused("the example sentence is empty")
    if len(text) > MAX_SENTENCE_CHARS:
        raise ExampleRefused(f"the example is {len(text)} characters; give one sentence "
                             f"(at most {MAX_SENTENCE_CHARS})")
    lang = (language or "").strip().lower() or identify(text)[0]
    example = TriageExample(organisation=organisation, label=label, category=category, sentence=text,
                            language=lang or UNDETERMINED, added_by=actor.name,
                            source_case=case.number if case is not None else None, reason=reason.strip())
    session.add(example)
    session.flush()
    events.record(session, "triage-example-added", case.id if case is not None else None, actor=actor.name,
                  automatic=False, example_id=example.id, organisation=organisation, label=label,
                  category=category, language=example.language, reason=example.reason)
    return example


def list_examples(session: Session, actor: Actor, organisation: str | None = None) -> list[TriageExample]:
    """The examples the actor may see, oldest first (optionally of one organisation)."""
    query = select(TriageExample).order_by(TriageExample.id)
    if organisation:
        query = query.where(TriageExample.organisation == organisation)
    return [e for e in session.scalars(query) if actor.may_see(e.organisation)]


def remove_example(session: Session, actor: Actor, example_id: int, reason: str = "") -> TriageExample:
    """Delete one example (the audit log keeps that it existed, who removed it and why)."""
    example = session.get(TriageExample, example_id)
    if example is None or not actor.may_see(example.organisation):
        raise ExampleRefused(f"no triage example #{example_id}")
    events.record(session, "triage-example-removed", None, actor=actor.name, automatic=False,
                  example_id=example.id, organisation=example.organisation, label=example.label,
                  category=example.category, reason=reason.strip())
    session.delete(example)
    return example


_EXAMPLES: Table = TriageExample.__table__  # type: ignore[assignment]
# Read for every report (most organisations have none): built once, on the table's columns.
_OF_ORGANISATION = (select(_EXAMPLES.c.id, _EXAMPLES.c.label, _EXAMPLES.c.category, _EXAMPLES.c.sentence,
                           _EXAMPLES.c.language)
                    .where(_EXAMPLES.c.organisation == bindparam("organisation")).order_by(_EXAMPLES.c.id))


def organisation_examples(session: Session, organisation: str) -> list[Example]:
    """The detector's view of an organisation's examples."""
    rows = session.execute(_OF_ORGANISATION, {"organisation": organisation})
    return [Example(r.label, r.category, r.sentence, r.language, f"organisation:{organisation}#{r.id}")
            for r in rows]


def as_rows(examples: Sequence[TriageExample]) -> list[dict[str, Any]]:
    """JSON-ready rows for `stopit triage examples list --json`."""
    return [{"id": e.id, "organisation": e.organisation, "label": e.label, "category": e.category,
             "language": e.language, "sentence": e.sentence, "added_by": e.added_by,
             "added_at": e.added_at.isoformat() if e.added_at else None, "source_case": e.source_case,
             "reason": e.reason} for e in examples]
