"""The pure time logic of escalation: business hours, which chain, and when each page is due.

No database and no hidden clock here: every function takes `now`, so the rules can be tested
at 3 a.m. on a Tuesday in New York without waiting for one.

Pages are numbered 0, 1, 2... for the life of an escalation. With a chain of n steps, page k
goes to step `k % n` in round `k // n + 1`: after the last step the chain starts again from
the top, because an emergency must keep escalating until someone acknowledges it.

Deadlines follow the schedule, not the tick: page k+1 is due `wait_minutes` of step k after
page k was *due*, so the promise the chain makes ("the police are called 30 minutes after the
report") holds however late the worker looks. After downtime every overdue page is sent at
once, in order, but at most one round per tick; if the schedule is still behind after that,
the next deadline is rebased on now (see `catch_up_deadline`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stopit_mail.config.casework import ChainStep, EscalationSettings, parse_read_deadline

BUSINESS = "business"
AFTER_HOURS = "after-hours"
NO_CHAIN = "none"


def utc(value: datetime) -> datetime:
    """An aware UTC datetime (SQLite hands back naive values, which are UTC by our convention)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def zone(settings: EscalationSettings) -> ZoneInfo:
    """The organisation's timezone (UTC if the name is unknown; the config check reports it)."""
    try:
        return ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_hours(text: str) -> tuple[time, time]:
    """'08:00-17:00' to (08:00, 17:00); ValueError when malformed."""
    start, _, end = text.strip().partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def in_business_hours(settings: EscalationSettings, now: datetime) -> bool:
    """Whether `now` falls in the organisation's business hours, in its own timezone.

    A range that ends before it starts ('22:00-06:00') runs overnight and belongs to the day
    it started on; equal start and end mean the whole day.
    """
    try:
        start, end = parse_hours(settings.business_hours)
    except ValueError:
        return False
    local = utc(now).astimezone(zone(settings))
    clock, day = local.time().replace(tzinfo=None), local.isoweekday()
    if start == end:
        return day in settings.business_days
    if start < end:
        return day in settings.business_days and start <= clock < end
    if clock >= start:
        return day in settings.business_days
    previous_day = 7 if day == 1 else day - 1
    return clock < end and previous_day in settings.business_days


def snapshot(steps: list[ChainStep]) -> list[dict[str, Any]]:
    """Chain steps as the JSON stored on the escalation (later config edits do not reorder it)."""
    return [{"contact": s.contact, "addresses": list(s.addresses), "wait_minutes": int(s.wait_minutes)}
            for s in steps if s is not None and s.addresses]


def choose_chain(settings: EscalationSettings, now: datetime) -> tuple[str, list[dict[str, Any]]]:
    """The chain to page at `now`: its name and its steps (NO_CHAIN and [] when none is configured).

    Outside business hours the after-hours chain is paged when there is one; otherwise the
    business chain. If only one of the two is configured, it is paged at any hour: an
    emergency at 3 a.m. with only a business chain still pages somebody.
    """
    business, after = snapshot(settings.business_chain), snapshot(settings.after_hours_chain)
    if in_business_hours(settings, now):
        candidates = [(BUSINESS, business), (AFTER_HOURS, after)]
    else:
        candidates = [(AFTER_HOURS, after), (BUSINESS, business)]
    for name, steps in candidates:
        if steps:
            return name, steps
    return NO_CHAIN, []


@dataclass(frozen=True)
class PagePosition:
    """Where page number `number` falls in a chain of `size` steps."""

    number: int
    size: int

    @property
    def index(self) -> int:
        """The chain step paged (0-based)."""
        return self.number % self.size

    @property
    def round(self) -> int:
        """How many times the chain has been started, this round included (1-based)."""
        return self.number // self.size + 1

    @property
    def starts_round(self) -> bool:
        """True for the first page of a round after the first (the chain starting again)."""
        return self.index == 0 and self.number > 0


def wait_of(steps: list[dict[str, Any]], number: int) -> timedelta:
    """How long page `number` waits for an acknowledgement before the next page."""
    step = steps[PagePosition(number, len(steps)).index]
    return timedelta(minutes=max(int(step.get("wait_minutes", 10)), 1))


def catch_up_deadline(steps: list[dict[str, Any]], last_number: int, deadline: datetime, now: datetime) -> datetime:
    """The next deadline after a tick: the schedule, unless it is still in the past after a full round.

    A worker down for hours would otherwise page round after round in one burst; instead,
    once everyone in the chain has been paged by this tick, the next page waits the last
    step's full time from now.
    """
    return deadline if deadline > now else now + wait_of(steps, last_number)


def local_text(value: datetime, settings: EscalationSettings) -> str:
    """A time as on-call staff read it: '2026-03-03 03:15 EST'."""
    return utc(value).astimezone(zone(settings)).strftime("%Y-%m-%d %H:%M %Z")


def next_business_opening(settings: EscalationSettings, after: datetime) -> datetime:
    """The first start of business hours strictly after `after`, in UTC (a week ahead at most).

    With no business days configured, or hours that cannot be read, it is `after` plus a day:
    a report is never left without a deadline.
    """
    after = utc(after)
    try:
        start, _end = parse_hours(settings.business_hours)
    except ValueError:
        return after + timedelta(days=1)
    tz = zone(settings)
    local_day = after.astimezone(tz).date()
    for offset in range(8):
        day = local_day + timedelta(days=offset)
        if day.isoweekday() not in settings.business_days:
            continue
        opening = datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
        if opening > after:
            return opening
    return after + timedelta(days=1)


def read_due(settings: EscalationSettings, urgency: str, opened_at: datetime) -> datetime:
    """When a report of `urgency` opened at `opened_at` must have been read by a person.

    The deadline text depends on whether the report arrived in business hours (see
    `ReadDeadlines`); 'next-business-morning+1h' is an hour after the next opening.
    """
    opened_at = utc(opened_at)
    text = settings.read_deadlines.for_urgency(urgency, in_business_hours(settings, opened_at))
    try:
        morning, span = parse_read_deadline(text)
    except ValueError:
        morning, span = False, timedelta(hours=1)
    return (next_business_opening(settings, opened_at) if morning else opened_at) + span
