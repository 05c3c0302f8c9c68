"""The 24/7 escalation engine: page an emergency's chain until someone acknowledges.

Emergencies are never silent. `start_escalation` pages the first step of the chain at once,
in the same transaction as the case, and stores the deadline of the next page; the worker's
`escalation_tick` pages each step whose deadline has passed, in order, and after the last step
starts the chain again from the top (a new round) instead of going quiet. `acknowledge` (the
`stopit ack` command, or a reply carrying the acknowledgement code) is the only thing that
stops it. An emergency with no chain configured is recorded as impossible, alerted to the
organisation's mailbox and shown by `stopit escalations`: visible, never silent.

Every page is sent exactly once: `Page` is unique per (escalation, page number), its outbox
row per `page:<escalation>:<number>`, and on PostgreSQL the escalation row is claimed with
`FOR UPDATE SKIP LOCKED` so concurrent workers never page the same step twice.

Pages say what staff need to act (case number, urgency, categories, which triage rules fired,
how to acknowledge, who is next and when) and never the reporter's identity or words: they
go to phones and SMS gateways, and sometimes to the police. Staff read the case in the CLI.

Real time never enters here: every function takes `now` (see `escalation_clock`).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import Select, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail import events
from stopit_mail.cases.codes import case_alias, format_code, new_reporter_code, normalise_code
from stopit_mail.cases.escalation_clock import (
    NO_CHAIN,
    PagePosition,
    catch_up_deadline,
    choose_chain,
    local_text,
    utc,
    wait_of,
)
from stopit_mail.config import Organisation, Settings
from stopit_mail.models import Case, Escalation, EscalationStatus, OutboxMessage, OutboxStatus, Page
from stopit_mail.outbound.compose import Draft
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.outbound.render import Rendered, TemplateError, make_environment, render

log = logging.getLogger(__name__)

PAGE_TEMPLATE = "staff/emergency-page.txt.j2"
ACK_PREFIX = "ack-"
# Escalations that still need a person: being paged, or impossible (nobody to page).
OPEN_STATUSES = (EscalationStatus.ACTIVE, EscalationStatus.EXHAUSTED)
_PAGE_HEADERS = {
    # RFC 3834: generated, not a reply; so out-of-office robots stay quiet and our own
    # mailbox sets a looped-back page aside instead of filing it.
    "Auto-Submitted": "auto-generated",
    "X-Auto-Response-Suppress": "All",
    "Importance": "high",
    "X-Priority": "1 (Highest)",
}
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _locked(session: Session, query: Select[Any], skip_locked: bool) -> Select[Any]:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=skip_locked)
    return query


def organisation_of(settings: Settings, case: Case) -> Organisation:
    """The case's organisation (the first one if it has since left the configuration)."""
    return settings.organisation(case.organisation) or settings.default_organisation()


def ack_address(organisation: Organisation, code: str) -> str:
    """The reply address of a page, `stopit+ack-<code>@domain`: a reply there acknowledges."""
    return case_alias(f"{ACK_PREFIX}{code}", organisation.mailboxes[0])


def _reasons(case: Case) -> list[str]:
    """Which triage rules fired, without quoting the report (pages leave our hands)."""
    triage = case.triage or {}
    matches = triage.get("matches") or (triage.get("automatic") or {}).get("matches") or []
    seen: list[str] = []
    for match in matches:
        if not isinstance(match, dict):
            continue
        where = " in subject" if match.get("field") == "subject" else ""
        line = f'rule "{match.get("rule", "?")}" ({match.get("category", "?")}, {match.get("urgency", "?")}){where}'
        if line not in seen:
            seen.append(line)
    return seen


def _render_page(settings: Settings, org: Organisation, case: Case, esc: Escalation,
                 number: int, now: datetime) -> Rendered:
    """Render a page (or the nobody-to-page alert), falling back to the built-in template.

    An organisation's broken override must not silence an emergency: the error is logged and
    the built-in template used instead.
    """
    steps = esc.steps
    variables: dict[str, Any] = {
        "organisation": org.name, "case_number": case.number, "urgency": case.urgency,
        "categories": list(case.categories or []), "reasons": _reasons(case),
        "ack_code": format_code(esc.ack_code), "ack_address": ack_address(org, esc.ack_code),
        "started_at": local_text(esc.started_at, org.escalation), "paged_at": local_text(now, org.escalation),
        "impossible": not steps, "chain": esc.chain, "timezone": org.escalation.timezone,
    }
    if steps:
        here, after = PagePosition(number, len(steps)), PagePosition(number + 1, len(steps))
        variables.update(
            contact=steps[here.index]["contact"], position=here.index + 1, steps_total=len(steps),
            round=here.round, next_contact=steps[after.index]["contact"], next_starts_round=after.starts_round,
            next_wait=int(wait_of(steps, number).total_seconds() // 60),
        )
    overrides = [settings.base_dir / Path(org.templates_dir)] if org.templates_dir else []
    try:
        return render(make_environment(overrides), PAGE_TEMPLATE, **variables)
    except (TemplateError, jinja2.TemplateError) as exc:
        if not overrides:
            raise
        log.error("organisation %s: page template override failed (%s); using the built-in one", org.slug, exc)
        return render(make_environment(), PAGE_TEMPLATE, **variables)


def _send_page(session: Session, settings: Settings, case: Case, esc: Escalation, number: int,
               due: datetime, now: datetime) -> Page | None:
    """Queue page `number` of `esc` to its step's addresses; None if it was already sent."""
    if session.scalar(select(Page.id).where(Page.escalation_id == esc.id, Page.step == number)) is not None:
        return None
    org = organisation_of(settings, case)
    position = PagePosition(number, len(esc.steps))
    step = esc.steps[position.index]
    rendered = _render_page(settings, org, case, esc, number, now)
    alias = ack_address(org, esc.ack_code)
    draft = Draft(from_address=alias, from_name=f"{org.name} stopit", to=list(step["addresses"]),
                  subject=rendered.subject, body=rendered.body, reply_to=alias, automatic=False,
                  extra_headers=dict(_PAGE_HEADERS))
    # The envelope sender is the alias too, so a bounce comes back and joins the case.
    row = enqueue(session, draft, "page", f"page:{esc.id}:{number}", case.id, envelope_from=alias)
    page = Page(escalation_id=esc.id, step=number, contact=step["contact"], addresses=list(step["addresses"]),
                paged_at=now, outbox_id=row.id)
    session.add(page)
    if position.starts_round:
        events.record(session, "escalation-round-restarted", case.id, escalation_id=esc.id, round=position.round,
                      reason="nobody acknowledged the whole chain; paging it again from the top")
    events.record(session, "escalation-paged", case.id, escalation_id=esc.id, page=number,
                  step=position.index + 1, round=position.round, contact=step["contact"],
                  addresses=list(step["addresses"]), due_at=due.isoformat(),
                  late_seconds=max(int((now - due).total_seconds()), 0), outbox_id=row.id)
    session.flush()
    return page


def open_escalations(session: Session, case_id: int) -> list[Escalation]:
    """The case's escalations still needing a person (active or impossible), oldest first."""
    return list(session.scalars(select(Escalation).where(
        Escalation.case_id == case_id, Escalation.status.in_(OPEN_STATUSES)).order_by(Escalation.id)))


def start_escalation(session: Session, settings: Settings, case: Case, now: datetime) -> Escalation | None:
    """Start paging an emergency: choose the chain, page its first step now, store the next deadline.

    Returns None when the case is already being escalated (so callers may call it freely).
    With no chain configured the escalation is recorded as impossible (status exhausted, no
    steps), logged as critical and alerted to the organisation's mailbox addresses.
    """
    if open_escalations(session, case.id):
        return None
    now = utc(now)
    org = organisation_of(settings, case)
    chain, steps = choose_chain(org.escalation, now)
    esc = Escalation(case_id=case.id, chain=chain, started_at=now, step=-1, next_deadline=now,
                     ack_code=new_reporter_code(), status=EscalationStatus.ACTIVE, steps=steps)
    session.add(esc)
    session.flush()
    if not steps:
        return _impossible(session, settings, org, case, esc, now)
    events.record(session, "escalation-started", case.id, escalation_id=esc.id, chain=chain,
                  contacts=[s["contact"] for s in steps], urgency=case.urgency)
    _send_page(session, settings, case, esc, 0, now, now)
    esc.step = 0
    esc.next_deadline = now + wait_of(steps, 0)
    return esc


def _impossible(session: Session, settings: Settings, org: Organisation, case: Case, esc: Escalation,
                now: datetime) -> Escalation:
    esc.status = EscalationStatus.EXHAUSTED
    esc.chain = NO_CHAIN
    reason = (f"EMERGENCY {case.number} PAGED NOBODY: organisation {org.slug!r} has no escalation chain "
              f"configured ([organisations.escalation] business_chain / after_hours_chain are empty)")
    log.critical(reason)
    events.record(session, "escalation-impossible", case.id, escalation_id=esc.id, reason=reason)
    if org.mailboxes:
        rendered = _render_page(settings, org, case, esc, 0, now)
        alias = ack_address(org, esc.ack_code)
        draft = Draft(from_address=alias, from_name=f"{org.name} stopit", to=list(org.mailboxes),
                      subject=rendered.subject, body=rendered.body, reply_to=alias, automatic=False,
                      extra_headers=dict(_PAGE_HEADERS))
        enqueue(session, draft, "escalation-alert", f"escalation-impossible:{esc.id}", case.id, envelope_from=alias)
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
    with factory() as session:
        ids = due_ids(session, now)
    total = 0
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
    rendered = render(make_environment(), "staff/stand-down.txt.j2", case_number=case.number,
                      acknowledged_by=by, acknowledged_at=now.strftime("%Y-%m-%d %H:%M UTC"), organisation=org.name)
    alias = ack_address(org, esc.ack_code)
    draft = Draft(from_address=alias, from_name=f"{org.name} stopit", to=addresses, subject=rendered.subject,
                  body=rendered.body, reply_to=alias, automatic=True)
    enqueue(session, draft, "stand-down", f"stand-down:{esc.id}", case.id, envelope_from=alias)


def find_by_code(session: Session, code: str) -> Escalation | None:
    """The escalation with this acknowledgement code (dashes, spaces and case ignored)."""
    return session.scalar(select(Escalation).where(Escalation.ack_code == normalise_code(code)))


def codes_in_text(session: Session, text: str) -> list[Escalation]:
    """Open escalations whose code appears in `text` (a subject or body; formatting ignored)."""
    rows = list(session.scalars(select(Escalation).where(Escalation.status.in_(OPEN_STATUSES))))
    if not rows:
        return []
    flat = _NOT_ALNUM.sub("", text.lower())
    return [esc for esc in rows if esc.ack_code in flat]
