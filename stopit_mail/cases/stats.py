"""Statistics for an organisation's annual report and for watching the service work.

What is counted, precisely:

- **Cases** are the unit of the category and urgency figures: the cases opened in the period
  (`opened_at >= since`), excluding cases merged into another (their reports now belong to the
  target, which is counted). A case with several categories counts once in each, so category
  shares (cases with the category / cases) may add up to more than 100 %. A case without
  categories is counted as "untriaged". `reports` is the number of reports received in the
  period on those organisations' cases (several reports can join one case).
- **Time to first staff action**: for each case in the period, the first event with
  `automatic=False` (a person did something) minus `opened_at`; the median over cases that have
  one. Cases with no staff action yet are counted as `awaiting`.
- **Time to acknowledge an emergency**: `acknowledged_at - started_at` of each escalation started
  in the period; the median over acknowledged ones; the others are counted as `unacknowledged`.
- **Notices sent**: a notice is one delivered message asking an alleged sender to stop. Deliveries
  come from outbox rows of kind "notice" with status "sent" (time: `sent_at`) and from
  "notice-sent" events (time: the event's; recipient: `detail["recipient"]` or
  `detail["recipients"]`, else the recipients of the outbox row `detail["outbox_id"]`, else
  the case's alleged senders). Both usually describe the same
  delivery, so a notice is counted once per case and recipient, at its earliest time, and only
  when that time is in the period.
- **Stop rate**: a *noticed sender* is an address that is an alleged sender (a Party with role
  "alleged-sender") of a case on which a notice to that address was sent, at time T (its
  earliest such notice in the period). The sender *stopped* if no report received in
  (T, T + stop_window_days] is on a case that has them as alleged sender, not counting reports
  whose every evidence item (by Message-ID key or content fingerprint) was already reported at
  or before T: someone else forwarding the old message late is not new behaviour. A new report
  counts as *reported again* as soon as it arrives; a sender with no new report whose window
  has not elapsed yet (T + window > now) is *pending* and left out of the rate;
  `rate = stopped / (stopped + reported_again)`, None when nothing is decided yet.

Everything is limited to the organisations the actor may see (and to `organisation` if given),
including the search for later reports, so figures never reveal another organisation's cases.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, select
from sqlalchemy.orm import Session

from stopit_mail.cases.audit import as_utc
from stopit_mail.cases.case_figures import first_staff_action, grouped_figures, share, tally_rows
from stopit_mail.cases.queries import visible_to
from stopit_mail.cases.staff import Actor, PermissionDenied
from stopit_mail.models import Case, Escalation, Event, Evidence, OutboxMessage, OutboxStatus, Party, Report, StatTally

NOTICE_KIND = "notice"
NOTICE_SENT_EVENT = "notice-sent"
ALLEGED_SENDER = "alleged-sender"


@dataclass(frozen=True)
class Notice:
    """One delivered notice: which case, to whom (lower-cased address), when."""

    case_id: int
    recipient: str
    at: datetime


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _address(value: Any) -> str:
    return parseaddr(str(value or ""))[1].strip().lower()


def scope_clause(actor: Actor | None, organisation: str | None) -> ColumnElement[bool]:
    """Cases counted: visible to the actor, of `organisation` if given, not merged away."""
    clause = and_(visible_to(actor), Case.merged_into_id.is_(None))
    if organisation:
        clause = and_(clause, Case.organisation == organisation)
    return clause


# SQLite allows 32,766 bound parameters per statement (999 before 3.32): IN lists go in slices.
IN_SLICE = 500


def _slices(values: Iterable[Any]) -> Iterator[list[Any]]:
    items = list(values)
    for start in range(0, len(items), IN_SLICE):
        yield items[start:start + IN_SLICE]


def _emergency_acknowledgement(session: Session, scope: ColumnElement[bool], since: datetime | None) -> dict[str, Any]:
    query = select(Escalation.started_at, Escalation.acknowledged_at).join(Case, Case.id == Escalation.case_id)
    query = query.where(scope)
    if since is not None:
        query = query.where(Escalation.started_at >= since)
    rows = session.execute(query).all()
    delays = [(as_utc(ack) - as_utc(start)).total_seconds() for start, ack in rows if ack is not None]
    return {"median_seconds": _median(delays), "acknowledged": len(delays), "unacknowledged": len(rows) - len(delays)}


def _alleged_senders(session: Session, case_ids: Iterable[int]) -> dict[int, set[str]]:
    senders: dict[int, set[str]] = {}
    for part in _slices(case_ids):
        rows = session.execute(select(Party.case_id, Party.address).where(
            Party.role == ALLEGED_SENDER, Party.case_id.in_(part), Party.address != ""))
        for case_id, address in rows:
            senders.setdefault(case_id, set()).add(address.lower())
    return senders


def delivered_notices(session: Session, scope: ColumnElement[bool]) -> list[Notice]:
    """Every delivered notice on cases in scope, once per case and recipient, earliest first."""
    earliest: dict[tuple[int, str], datetime] = {}

    def add(case_id: int, recipient: str, at: datetime) -> None:
        key = (case_id, recipient)
        if recipient and (key not in earliest or at < earliest[key]):
            earliest[key] = at

    outbox = session.execute(select(OutboxMessage.case_id, OutboxMessage.recipients, OutboxMessage.sent_at,
                                    OutboxMessage.created_at).join(Case, Case.id == OutboxMessage.case_id).where(
        scope, OutboxMessage.kind == NOTICE_KIND, OutboxMessage.status == OutboxStatus.SENT))
    for case_id, recipients, sent_at, created_at in outbox:
        for recipient in recipients or []:
            add(case_id, _address(recipient), as_utc(sent_at or created_at))
    sent_events = session.execute(select(Event.case_id, Event.detail, Event.at).join(
        Case, Case.id == Event.case_id).where(scope, Event.action == literal(NOTICE_SENT_EVENT, literal_execute=True))).all()
    # The outbox's own "notice-sent" event names its row; older or imported ones may name the recipient.
    outbox_ids = [d["outbox_id"] for _c, d, _a in sent_events if isinstance((d or {}).get("outbox_id"), int)]
    outbox_recipients: dict[int, list[str]] = {}
    for part in _slices(outbox_ids):
        rows = session.execute(select(OutboxMessage.id, OutboxMessage.recipients).where(OutboxMessage.id.in_(part)))
        outbox_recipients.update({row_id: recipients or [] for row_id, recipients in rows})
    fallback = _alleged_senders(session, {case_id for case_id, _d, _a in sent_events})
    for case_id, detail, at in sent_events:
        detail = detail or {}
        named = detail.get("recipients") or ([detail["recipient"]] if detail.get("recipient") else [])
        if not named and isinstance(detail.get("outbox_id"), int):
            named = outbox_recipients.get(detail["outbox_id"], [])
        for recipient in [_address(r) for r in named] or sorted(fallback.get(case_id, ())):
            add(case_id, recipient, as_utc(at))
    return sorted((Notice(c, r, at) for (c, r), at in earliest.items()), key=lambda n: (n.at, n.case_id, n.recipient))


def stop_rate(session: Session, scope: ColumnElement[bool], notices: list[Notice], window_days: int,
              now: datetime) -> dict[str, Any]:
    """Of the senders who were sent a notice, how many were not reported again (see module doc)."""
    window = timedelta(days=window_days)
    senders_of = _alleged_senders(session, {n.case_id for n in notices})
    first_notice: dict[str, datetime] = {}
    for notice in notices:
        if notice.recipient in senders_of.get(notice.case_id, set()):
            first_notice.setdefault(notice.recipient, notice.at)
    result: dict[str, Any] = {"window_days": window_days, "senders": len(first_notice), "stopped": 0,
                              "reported_again": 0, "pending": 0, "rate": None}
    if not first_notice:
        return result
    # Every case in scope naming one of these senders, and every report and evidence key on them.
    cases_of: dict[str, set[int]] = {}
    for part in _slices(first_notice):
        for case_id, address in session.execute(select(Party.case_id, func.lower(Party.address)).join(
                Case, Case.id == Party.case_id).where(scope, Party.role == ALLEGED_SENDER,
                                                      func.lower(Party.address).in_(part))):
            cases_of.setdefault(address, set()).add(case_id)
    all_cases = set().union(*cases_of.values())
    reports = [row for part in _slices(all_cases) for row in session.execute(
        select(Report.id, Report.case_id, Report.received_at).where(Report.case_id.in_(part)))]
    keys: dict[int, list[tuple[str | None, str | None]]] = {}
    for part in _slices(r[0] for r in reports):
        for report_id, mid, fingerprint in session.execute(select(
                Evidence.report_id, Evidence.message_id_key, Evidence.fingerprint).where(Evidence.report_id.in_(part))):
            keys.setdefault(report_id, []).append((mid, fingerprint))
    for sender, noticed_at in first_notice.items():
        their_cases = cases_of.get(sender, set())
        theirs = [(rid, as_utc(received)) for rid, case_id, received in reports if case_id in their_cases]
        # Evidence already reported when the notice went out: a later copy of it is not new behaviour.
        known = {key for rid, received in theirs if received <= noticed_at
                 for pair in keys.get(rid, []) for key in pair if key}
        again = any(noticed_at < received <= noticed_at + window and _is_new(keys.get(rid, []), known)
                    for rid, received in theirs)
        # A re-offence counts as soon as it is reported; "stopped" only once the window has passed.
        if again:
            result["reported_again"] += 1
        elif noticed_at + window > now:
            result["pending"] += 1
        else:
            result["stopped"] += 1
    decided = result["stopped"] + result["reported_again"]
    result["rate"] = share(result["stopped"], decided) if decided else None
    return result


def _is_new(evidence_keys: list[tuple[str | None, str | None]], known: set[str]) -> bool:
    """A report is new behaviour unless every evidence item was already reported."""
    if not evidence_keys:
        return True
    return not all((mid and mid in known) or (fp and fp in known) for mid, fp in evidence_keys)


def compute_stats(
    session: Session, actor: Actor | None = None, organisation: str | None = None,
    since: datetime | None = None, now: datetime | None = None, stop_window_days: int = 90,
) -> dict[str, Any]:
    """All the figures for the cases `actor` may see, as a JSON-ready dictionary."""
    now = as_utc(now or datetime.now(UTC))
    since = as_utc(since) if since is not None else None
    if organisation and actor is not None and not actor.may_see(organisation):
        raise PermissionDenied(f"{actor.name} does not work for organisation {organisation!r}")
    scope = scope_clause(actor, organisation)
    organisations = visible_to(actor, StatTally.organisation)
    if organisation:
        organisations = and_(organisations, StatTally.organisation == organisation)
    grouped = grouped_figures(tally_rows(session, organisations, scope, since))
    notices = [n for n in delivered_notices(session, scope) if since is None or n.at >= since]
    return {
        "organisation": organisation,
        "since": since.isoformat() if since else None,
        "until": now.isoformat(),
        "cases": grouped["cases"],
        "reports": grouped["reports"],
        "categories": grouped["categories"],
        "urgency": grouped["urgency"],
        "first_staff_action": first_staff_action(session, scope, since, grouped["cases"]),
        "outcomes": grouped["outcomes"],
        "by_month": grouped["by_month"],
        "emergency_acknowledgement": _emergency_acknowledgement(session, scope, since),
        "notices_sent": len(notices),
        "stop_rate": stop_rate(session, scope, notices, stop_window_days, now),
    }
