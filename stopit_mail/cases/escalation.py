"""The 24/7 escalation engine: page an emergency's chain until someone acknowledges.

Emergencies are never silent. `start_escalation` pages the first step of the chain at once,
in the same transaction as the case, and stores the deadline of the next page; the worker's
`escalation_tick` pages each step whose deadline has passed, in order, and after the last step
starts the chain again from the top (a new round) instead of going quiet. `acknowledge` (the
`stopit ack` command, or a reply from a contact of the chain carrying the acknowledgement
code) is the only thing that stops it. An emergency with no chain configured is recorded as
impossible, alerted to the organisation's mailbox and shown by `stopit escalations`.

Three kinds of escalation share this engine (`Escalation.kind`):
- `emergency`: the chain, as above;
- `review`: a *possible* emergency paged to the on-call reviewers, who confirm or dismiss it
  (`escalation_review`); when the window passes unanswered the review is closed and the
  chain paged anyway;
- `unread`: a report nobody opened by its deadline (`escalation_unread`), paged to the chain
  until someone opens it or acknowledges.
An emergency chain supersedes an open review or unread escalation of the same case.

Every page is sent exactly once: `Page` is unique per (escalation, page number), its outbox
row per `page:<escalation>:<number>`, and on PostgreSQL the escalation row is claimed with
`FOR UPDATE SKIP LOCKED` so concurrent workers never page the same step twice.

What a page says is in `escalation_pages`. Real time never enters here: every function takes
`now` (see `escalation_clock`).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail import events
from stopit_mail.cases.codes import new_reporter_code, normalise_code
from stopit_mail.cases.escalation_clock import (
    NO_CHAIN,
    PagePosition,
    catch_up_deadline,
    choose_chain,
    utc,
    wait_of,
)
from stopit_mail.cases.escalation_pages import ACK_PREFIX, ack_address, page_drafts
from stopit_mail.config import Organisation, Settings
from stopit_mail.models import (
    Case,
    Escalation,
    EscalationStatus,
    OutboxMessage,
    OutboxStatus,
    Page,
    Review,
)
from stopit_mail.outbound.compose import Draft
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.outbound.render import make_environment, render

log = logging.getLogger(__name__)

__all__ = ["ACK_PREFIX", "ack_address"]

EMERGENCY, REVIEW, UNREAD = "emergency", "review", "unread"
REVIEW_CHAIN = "review"
# Escalations that still need a person: being paged, or impossible (nobody to page).
OPEN_STATUSES = (EscalationStatus.ACTIVE, EscalationStatus.EXHAUSTED)
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _locked(session: Session, query: Select[Any], skip_locked: bool) -> Select[Any]:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=skip_locked)
    return query


def organisation_of(settings: Settings, case: Case) -> Organisation:
    """The case's organisation (the first one if it has since left the configuration)."""
    return settings.organisation(case.organisation) or settings.default_organisation()


def _send_page(session: Session, settings: Settings, case: Case, esc: Escalation, number: int,
               due: datetime, now: datetime) -> Page | None:
    """Queue page `number` of `esc` to its step's addresses; None if it was already sent."""
    if session.scalar(select(Page.id).where(Page.escalation_id == esc.id, Page.step == number)) is not None:
        return None
    org = organisation_of(settings, case)
    position = PagePosition(number, len(esc.steps))
    step = esc.steps[position.index]
    alias = ack_address(org, esc.ack_code)
    rows = [
        # The envelope sender is the alias too, so a bounce comes back and joins the case.
        enqueue(session, part.draft, "page", f"page:{esc.id}:{number}{part.suffix}", case.id, envelope_from=alias)
        for part in page_drafts(session, settings, org, case, esc, number, list(step["addresses"]), now)
    ]
    row = rows[0]
    page = Page(escalation_id=esc.id, step=number, contact=step["contact"], addresses=list(step["addresses"]),
                paged_at=now, outbox_id=row.id)
    session.add(page)
    if position.starts_round:
        events.record(session, "escalation-round-restarted", case.id, escalation_id=esc.id, round=position.round,
                      reason="nobody acknowledged the whole chain; paging it again from the top")
    events.record(session, "escalation-paged", case.id, escalation_id=esc.id, page=number,
                  step=position.index + 1, round=position.round, contact=step["contact"],
                  addresses=list(step["addresses"]), due_at=due.isoformat(), kind=esc.kind,
                  late_seconds=max(int((now - due).total_seconds()), 0), outbox_id=row.id,
                  outbox_ids=[r.id for r in rows])
    session.flush()
    return page


def open_escalations(session: Session, case_id: int, kinds: tuple[str, ...] = ()) -> list[Escalation]:
    """The case's escalations still needing a person (active or impossible), oldest first.

    `kinds` limits them to those kinds (empty: every kind).
    """
    query = select(Escalation).where(Escalation.case_id == case_id, Escalation.status.in_(OPEN_STATUSES))
    if kinds:
        query = query.where(Escalation.kind.in_(kinds))
    return list(session.scalars(query.order_by(Escalation.id)))


def close(session: Session, esc: Escalation, now: datetime, reason: str) -> None:
    """End an escalation that no person stopped (superseded, or a review window that passed)."""
    esc.status = EscalationStatus.CLOSED
    esc.acknowledged_at = utc(now)
    events.record(session, "escalation-closed", esc.case_id, escalation_id=esc.id, kind=esc.kind, reason=reason)


def begin(session: Session, settings: Settings, case: Case, now: datetime, kind: str, chain: str,
          steps: list[dict[str, Any]]) -> Escalation:
    """Create an escalation of `kind` over `steps`, page its first step now, store the next deadline."""
    esc = Escalation(case_id=case.id, chain=chain, started_at=now, step=-1, next_deadline=now, kind=kind,
                     ack_code=new_reporter_code(), status=EscalationStatus.ACTIVE, steps=steps)
    session.add(esc)
    session.flush()
    if not steps:
        return _impossible(session, settings, organisation_of(settings, case), case, esc, now)
    events.record(session, "escalation-started", case.id, escalation_id=esc.id, chain=chain, kind=kind,
                  contacts=[s["contact"] for s in steps], urgency=case.urgency)
    _send_page(session, settings, case, esc, 0, now, now)
    esc.step = 0
    esc.next_deadline = now + wait_of(steps, 0)
    return esc


def start_escalation(session: Session, settings: Settings, case: Case, now: datetime,
                     kind: str = EMERGENCY) -> Escalation | None:
    """Start paging the chain: choose it, page its first step now, store the next deadline.

    Returns None when the case already has an open escalation of that kind, or (for an
    unread report) any open escalation, so callers may call it freely. An emergency closes an
    open review or unread escalation of the case: the chain is what matters now. With no chain
    configured the escalation is recorded as impossible (status exhausted, no steps), logged
    as critical and alerted to the organisation's mailbox addresses.
    """
    if open_escalations(session, case.id, (EMERGENCY,) if kind == EMERGENCY else ()):
        return None
    now = utc(now)
    if kind == EMERGENCY:
        for other in open_escalations(session, case.id, (REVIEW, UNREAD)):
            close(session, other, now, "superseded: the emergency chain is being paged")
    chain, steps = choose_chain(organisation_of(settings, case).escalation, now)
    return begin(session, settings, case, now, kind, chain, steps)


def _impossible(session: Session, settings: Settings, org: Organisation, case: Case, esc: Escalation,
                now: datetime) -> Escalation:
    esc.status = EscalationStatus.EXHAUSTED
    esc.chain = NO_CHAIN
    what = {REVIEW: "POSSIBLE EMERGENCY", UNREAD: "UNREAD REPORT"}.get(esc.kind, "EMERGENCY")
    reason = (f"{what} {case.number} PAGED NOBODY: organisation {org.slug!r} has no escalation chain "
              f"configured ([organisations.escalation] business_chain / after_hours_chain are empty)")
    log.critical(reason)
    events.record(session, "escalation-impossible", case.id, escalation_id=esc.id, reason=reason)
    if org.mailboxes:
        alias = ack_address(org, esc.ack_code)
        for part in page_drafts(session, settings, org, case, esc, 0, list(org.mailboxes), now):
            enqueue(session, part.draft, "escalation-alert", f"escalation-impossible:{esc.id}{part.suffix}", case.id,
                    envelope_from=alias)
    return esc


def due_ids(session: Session, now: datetime) -> list[int]:
    """Active escalations whose next page is due (one query on the (status, next_deadline) index)."""
    return list(session.scalars(select(Escalation.id).where(
        Escalation.status == EscalationStatus.ACTIVE, Escalation.next_deadline <= utc(now),
    ).order_by(Escalation.next_deadline, Escalation.id)))


def advance(session: Session, settings: Settings, escalation_id: int, now: datetime) -> int:
    """Page every overdue step of one escalation, in order, at most one round; returns pages sent.

    Each next deadline is the previous *deadline* plus the step's wait (the schedule), so a
    late tick does not stretch the chain; see `catch_up_deadline` for long outages.
    """
    now = utc(now)
    query = select(Escalation).where(Escalation.id == escalation_id, Escalation.status == EscalationStatus.ACTIVE,
                                     Escalation.next_deadline <= now)
    esc = session.scalar(_locked(session, query, skip_locked=True))
    if esc is None or not esc.steps:
        return 0
    case = session.get(Case, esc.case_id)
    assert case is not None
    if esc.kind == REVIEW:
        return _review_window_passed(session, settings, case, esc, now)
    sent, deadline = 0, utc(esc.next_deadline)
    while deadline <= now and sent < len(esc.steps):
        number = esc.step + 1
        if _send_page(session, settings, case, esc, number, deadline, now) is not None:
            sent += 1
        esc.step = number
        deadline = deadline + wait_of(esc.steps, number)
    esc.next_deadline = catch_up_deadline(esc.steps, esc.step, deadline, now)
    if esc.next_deadline != deadline:
        events.record(session, "escalation-rescheduled", case.id, escalation_id=esc.id,
                      reason="worker was down for more than a whole round; next page counted from now",
                      next_deadline=esc.next_deadline.isoformat())
    return sent


def _review_window_passed(session: Session, settings: Settings, case: Case, esc: Escalation,
                          now: datetime) -> int:
    """Nobody confirmed or dismissed a possible emergency in time: page the chain anyway."""
    minutes = int((utc(esc.next_deadline) - utc(esc.started_at)).total_seconds() // 60)
    reason = f"no reviewer answered within {minutes} minutes; paging the chain"
    close(session, esc, now, reason)
    session.add(Review(case_id=case.id, escalation_id=esc.id, decision="expired", decided_by=events.SYSTEM_ACTOR,
                       reason=reason, via="window", decided_at=now))
    events.record(session, "review-expired", case.id, escalation_id=esc.id, reason=reason)
    chain = start_escalation(session, settings, case, now)
    return len(session.scalars(select(Page.id).where(Page.escalation_id == chain.id)).all()) if chain else 0


def expedite_undeliverable(session: Session, now: datetime) -> int:
    """Move a chain on at once when its current page could not be delivered at all.

    Waiting out a step for someone whose address bounced would leave an emergency unheard for
    the whole wait; the next contact is paged instead. Returns the escalations moved on.
    """
    now = utc(now)
    stuck = session.execute(
        select(Escalation, OutboxMessage.last_error)
        .join(Page, (Page.escalation_id == Escalation.id) & (Page.step == Escalation.step))
        .join(OutboxMessage, OutboxMessage.id == Page.outbox_id)
        .where(Escalation.status == EscalationStatus.ACTIVE, Escalation.next_deadline > now,
               OutboxMessage.status == OutboxStatus.FAILED)
    ).all()
    for esc, error in stuck:
        esc.next_deadline = now
        events.record(session, "page-undeliverable", esc.case_id, escalation_id=esc.id, page=esc.step,
                      error=(error or "")[:500], then="paging the next contact now")
    return len(stuck)


def escalation_tick(factory: sessionmaker[Session], settings: Settings, now: datetime) -> int:
    """Page whatever is due; the worker calls this every turn. Returns the number of pages queued.

    Cheap when nothing is due (one indexed query, plus one for undeliverable pages). Each
    escalation is advanced in its own transaction, so one failure (logged) never holds up the
    pages of another.
    """
    with factory() as session, session.begin():
        expedite_undeliverable(session, now)
    total = _unread_tick(factory, settings, now)
    with factory() as session:
        ids = due_ids(session, now)
    for escalation_id in ids:
        try:
            with factory() as session, session.begin():
                total += advance(session, settings, escalation_id, now)
        except SQLAlchemyError as exc:
            # Another worker paged it first (unique page) or the database is busy: next tick retries.
            log.warning("escalation %s not advanced this tick: %s", escalation_id, exc)
        except Exception:
            log.exception("escalation %s could not be advanced", escalation_id)
    return total


def _unread_tick(factory: sessionmaker[Session], settings: Settings, now: datetime) -> int:
    """Page unread reports past their deadline; a failure here never holds up the chains."""
    # Imported here because escalation_unread builds on this module.
    from stopit_mail.cases.escalation_unread import escalate_overdue

    try:
        with factory() as session, session.begin():
            return escalate_overdue(session, settings, now)
    except SQLAlchemyError as exc:
        log.warning("read deadlines not checked this tick: %s", exc)
    except Exception:
        log.exception("read deadlines could not be checked")
    return 0


def acknowledge(session: Session, target: Escalation | Case, by: str, now: datetime, via: str,
                automatic: bool = False, settings: Settings | None = None, **detail: Any) -> list[Escalation]:
    """Stop paging: the escalation, or every open escalation of a case. Returns those acknowledged.

    Acknowledging an impossible escalation (nobody to page) records that a person has taken
    charge. `automatic` stays False when a person acknowledged (staff command or a reply).
    With `settings`, everyone already paged is told to stand down.
    """
    now = utc(now)
    case_id = target.case_id if isinstance(target, Escalation) else target.id
    query = select(Escalation).where(Escalation.case_id == case_id, Escalation.status.in_(OPEN_STATUSES))
    if isinstance(target, Escalation):
        query = query.where(Escalation.id == target.id)
    done = []
    for esc in session.scalars(_locked(session, query.order_by(Escalation.id), skip_locked=False)):
        esc.status = EscalationStatus.ACKNOWLEDGED
        esc.acknowledged_at = now
        esc.acknowledged_by = by[:200]
        events.record(session, "escalation-acknowledged", case_id, actor=by[:120], automatic=automatic,
                      escalation_id=esc.id, via=via, pages_sent=esc.step + 1,
                      seconds_after_start=int((now - utc(esc.started_at)).total_seconds()), **detail)
        if settings is not None:
            stand_down(session, settings, esc, by, now)
        done.append(esc)
    return done


def stand_down(session: Session, settings: Settings, esc: Escalation, by: str, now: datetime) -> None:
    """Tell everyone already paged that someone has it, so they do not all rush in."""
    addresses = sorted({a for page in session.scalars(select(Page).where(Page.escalation_id == esc.id))
                        for a in page.addresses})
    case = session.get(Case, esc.case_id)
    if not addresses or case is None:
        return
    org = organisation_of(settings, case)
    rendered = render(make_environment(), "staff/stand-down.txt.j2", case_number=case.number, kind=esc.kind,
                      acknowledged_by=by, acknowledged_at=now.strftime("%Y-%m-%d %H:%M UTC"), organisation=org.name)
    alias = ack_address(org, esc.ack_code)
    draft = Draft(from_address=alias, from_name=f"{org.name} stopit", to=addresses, subject=rendered.subject,
                  body=rendered.body, reply_to=alias, automatic=True)
    enqueue(session, draft, "stand-down", f"stand-down:{esc.id}", case.id, envelope_from=alias)


def find_by_code(session: Session, code: str) -> Escalation | None:
    """The escalation with this acknowledgement code (dashes, spaces and case ignored)."""
    return session.scalar(select(Escalation).where(Escalation.ack_code == normalise_code(code)))


# Built once: the chain asks on every message that names no acknowledgement address. Only the
# codes are read (Core); the few escalations a text names are then loaded as objects.
_ESCALATIONS: Table = Escalation.__table__  # type: ignore[assignment]
_OPEN_CODES = (select(_ESCALATIONS.c.id, _ESCALATIONS.c.ack_code)
               .where(_ESCALATIONS.c.status.in_(OPEN_STATUSES)).order_by(_ESCALATIONS.c.id))


def open_codes(session: Session) -> list[tuple[int, str]]:
    """Ids and codes of the open escalations."""
    return [(row.id, row.ack_code) for row in session.execute(_OPEN_CODES)]


def codes_in_text(session: Session, text: str, rows: list[tuple[int, str]] | None = None) -> list[Escalation]:
    """Open escalations whose code appears in `text` (a subject or body; formatting ignored).

    `rows`: `open_codes` as the caller already read them (the worker reads them once per batch)."""
    rows = open_codes(session) if rows is None else rows
    if not rows:
        return []
    flat = _NOT_ALNUM.sub("", text.lower())
    found = (session.get(Escalation, esc_id) for esc_id, code in rows if code in flat)
    return [esc for esc in found if esc is not None]
