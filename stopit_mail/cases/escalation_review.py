"""The reviewer tier: a *possible* emergency is paged to the on-call reviewer first.

As a tip-line centre runs it: a person assesses before anyone is woken. The reviewers are
paged together and must confirm or dismiss within `confirm_minutes`; confirming pages the
chain at once, dismissing lowers the case to *urgent* (it still has a read deadline), and
silence pages the chain anyway when the window passes (`escalation._review_window_passed`).
With no reviewer configured the chain is paged at once: a missing reviewer never delays an
emergency.

A decision is one command (`stopit confirm|dismiss CASE --reason ...`) or one reply to the
page ("confirm ..." / "dismiss ..."), recorded as a `Review` with who, why and how. A
dismissal stays on record so it can become a reviewed negative example for the detector
(`stopit triage examples add --from-case`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.escalation import (
    EMERGENCY,
    REVIEW,
    REVIEW_CHAIN,
    acknowledge,
    begin,
    open_escalations,
    organisation_of,
    start_escalation,
)
from stopit_mail.cases.escalation_clock import utc
from stopit_mail.config import Settings
from stopit_mail.errors import StopitError
from stopit_mail.models import Case, Escalation, Review

POSSIBLE_EMERGENCY = "possible-emergency"
CONFIRMED, DISMISSED = "confirmed", "dismissed"
# What a dismissed possible emergency becomes: still read within the hour, never forgotten.
DISMISSED_URGENCY = "urgent"
# Only explicit words: a reply such as "not sure yet" must never stop a page.
_CONFIRM_WORDS = ("confirm", "confirmed", "confirmo", "confirmar", "escalate")
_DISMISS_WORDS = ("dismiss", "dismissed", "descartar", "descarto")
_WORD = re.compile(r"[a-záéíóúñ]+", re.IGNORECASE)


class ReviewRefused(StopitError):
    """A confirm or dismiss that does not apply (no possible emergency under review)."""


def start_review(session: Session, settings: Settings, case: Case, now: datetime) -> Escalation | None:
    """Page the on-call reviewers for a possible emergency (the chain if none is configured).

    Returns None when the case already has an open escalation (nothing is paged twice).
    """
    if open_escalations(session, case.id):
        return None
    org = organisation_of(settings, case)
    reviewers = [r for r in org.escalation.reviewers if r is not None and r.addresses]
    if not reviewers:
        events.record(session, "review-skipped", case.id, reason="no reviewer configured: paging the chain at once")
        return start_escalation(session, settings, case, now)
    steps = [{"contact": ", ".join(r.contact for r in reviewers)[:120],
              "addresses": [a for r in reviewers for a in r.addresses],
              "wait_minutes": int(org.escalation.confirm_minutes)}]
    return begin(session, settings, case, utc(now), REVIEW, REVIEW_CHAIN, steps)


def escalate_for_urgency(session: Session, settings: Settings, case: Case, now: datetime) -> Escalation | None:
    """Page for the case's urgency: the chain for an emergency, the reviewer for a possible one.

    The one call the pipeline makes after triage (of a report or a reply); safe to repeat.
    """
    if case.urgency == EMERGENCY:
        return start_escalation(session, settings, case, now)
    if case.urgency == POSSIBLE_EMERGENCY:
        return start_review(session, settings, case, now)
    return None


def _under_review(session: Session, case: Case) -> list[Escalation]:
    reviews = open_escalations(session, case.id, (REVIEW,))
    if not reviews and case.urgency != POSSIBLE_EMERGENCY:
        raise ReviewRefused(f"{case.number} is not a possible emergency under review (urgency: {case.urgency})")
    return reviews


def decide(session: Session, settings: Settings, case: Case, decision: str, by: str, reason: str,
           now: datetime, via: str, **detail: Any) -> Review:
    """Record a reviewer's confirm or dismiss, and act on it.

    Confirm: the case becomes an emergency and the chain is paged now (if not already).
    Dismiss: paging stops (the review, and a chain the expired window started), the case
    becomes urgent, and the dismissal is kept as a candidate negative example.
    """
    if decision not in (CONFIRMED, DISMISSED):
        raise ValueError(decision)
    reason = reason.strip()
    if not reason:
        raise ReviewRefused("say why (--reason): the decision is recorded and may become a reviewed example")
    now = utc(now)
    reviews = _under_review(session, case)
    record = Review(case_id=case.id, escalation_id=reviews[0].id if reviews else None, decision=decision,
                    decided_by=by[:200], reason=reason[:2000], via=via, decided_at=now)
    session.add(record)
    for esc in reviews:
        acknowledge(session, esc, by=by, now=now, via=via, settings=settings, decision=decision, **detail)
    previous = case.urgency
    if decision == CONFIRMED:
        case.urgency = EMERGENCY
        start_escalation(session, settings, case, now)
    else:
        if case.urgency in (POSSIBLE_EMERGENCY, EMERGENCY):
            case.urgency = DISMISSED_URGENCY
        # A chain the passed window started is stood down too: the reviewer has assessed it.
        for esc in open_escalations(session, case.id, (EMERGENCY,)):
            acknowledge(session, esc, by=by, now=now, via=via, settings=settings, decision=decision, **detail)
    events.record(session, f"review-{decision}", case.id, actor=by[:120], automatic=False, via=via, reason=reason,
                  urgency_before=previous, urgency_after=case.urgency, negative_example_candidate=decision == DISMISSED,
                  **detail)
    session.flush()
    return record


def dismissals(session: Session, case_id: int) -> list[Review]:
    """The case's dismissed reviews, newest first: what a reviewed negative example is made from."""
    return list(session.scalars(select(Review).where(Review.case_id == case_id, Review.decision == DISMISSED)
                                .order_by(Review.id.desc())))


def decision_in_reply(text: str) -> tuple[str, str] | None:
    """('confirmed' or 'dismissed', reason) from the first words of a reply, or None if unclear.

    "confirm she is at the bridge now" confirms; "dismiss it's a song lyric" dismisses;
    anything else is unclear and leaves the review window running.
    """
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(">"):
            continue
        words = _WORD.findall(line.lower())
        if not words:
            return None
        first = words[0]
        rest = line[line.lower().index(first) + len(first):].strip(" :,.-") or line
        if first in _CONFIRM_WORDS:
            return CONFIRMED, rest
        if first in _DISMISS_WORDS:
            return DISMISSED, rest
        return None
    return None
