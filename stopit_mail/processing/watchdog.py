"""The watchdog: is a worker running, and is it making progress while messages wait?

`stopit status` prints the verdict and exits non-zero when unhealthy (for monitoring), and the
server's watchdog thread alerts the mailbox and the escalation chain's first contact once per
episode (when it starts; a "recovered" event ends it), delivering the alert itself because the
worker that would normally deliver it may be the thing that stopped.

A message waits a little in normal operation, so nothing is judged before the oldest waiting
message is older than the grace period (longer than a message's time budget).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from stopit_mail import events
from stopit_mail.cases.escalation_clock import choose_chain
from stopit_mail.config import Settings
from stopit_mail.models import Event, RawMessage, WorkerHeartbeat
from stopit_mail.outbound.compose import Draft
from stopit_mail.outbound.delivery import Transport
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.outbound.sender import deliver_one
from stopit_mail.queues import waiting as waiting_messages

log = logging.getLogger(__name__)
ALERT, RECOVERED = "watchdog-alert", "watchdog-recovered"


@dataclass
class Health:
    """The watchdog's verdict; `problems` says what is wrong in sentences."""

    problems: list[str] = field(default_factory=list)
    waiting: int = 0
    workers: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def grace_for(settings: Settings) -> timedelta:
    """How long a message may wait, or a worker stay silent, before the watchdog worries."""
    return timedelta(seconds=settings.limits.processing_seconds + 30)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def check(session: Session, grace: timedelta, now: datetime | None = None) -> Health:
    """Judge the worker from its heartbeats and the waiting queue."""
    now = now or datetime.now(UTC)
    waiting, first = session.execute(select(func.count(RawMessage.id), func.min(RawMessage.received_at))
                                     .where(waiting_messages())).one()
    beats = [_aware(b) for b in session.scalars(select(WorkerHeartbeat.beat_at))]
    alive = [b for b in beats if b is not None and now - b <= grace]
    health = Health(waiting=waiting, workers=len(alive))
    oldest = _aware(first)
    if not waiting or oldest is None or now - oldest <= grace:
        return health
    age = int((now - oldest).total_seconds())
    if not alive:
        last = max((b for b in beats if b is not None), default=None)
        since = f"last heartbeat {int((now - last).total_seconds())} s ago" if last else "no heartbeat ever"
        health.problems.append(f"no worker is running ({since}) while {waiting} message(s) wait, "
                               f"the oldest for {age} s")
        return health
    finished = _aware(session.scalar(select(func.max(RawMessage.processed_at))))
    if finished is None or now - finished > grace:
        health.problems.append(f"the worker is not making progress: {waiting} message(s) wait, the oldest "
                               f"for {age} s, and nothing was finished in the last {int(grace.total_seconds())} s")
    return health


def _in_episode(session: Session) -> bool:
    last = session.scalar(select(Event.action).where(Event.action.in_((ALERT, RECOVERED)))
                          .order_by(Event.id.desc()).limit(1))
    return last == ALERT


def _recipients(settings: Settings, now: datetime) -> tuple[str, list[str]]:
    org = settings.default_organisation()
    _chain, steps = choose_chain(org.escalation, now)
    first = list(steps[0]["addresses"]) if steps else []
    return org.mailboxes[0], list(dict.fromkeys(list(org.mailboxes) + first))


def alert_if_unhealthy(factory: sessionmaker[Session], settings: Settings, transport: Transport | None,
                       now: datetime | None = None, grace: timedelta | None = None) -> Health:
    """Check; alert once when an episode starts, note when it ends. Returns the verdict."""
    now = now or datetime.now(UTC)
    queued: int | None = None
    with factory() as session, session.begin():
        health = check(session, grace or grace_for(settings), now)
        episode = _in_episode(session)
        if health.ok and episode:
            events.record(session, RECOVERED, None, waiting=health.waiting)
        elif not health.ok and not episode:
            event = events.record(session, ALERT, None, problems=health.problems)
            session.flush()
            sender, to = _recipients(settings, now)
            body = ("stopit-mail is not processing mail:\n\n" + "\n".join(f"- {p}" for p in health.problems) +
                    "\n\nReports, including emergencies, are stored but nobody is told about them until the "
                    "worker runs again. Check `stopit status` and restart the service.\n")
            draft = Draft(from_address=sender, from_name="stopit watchdog", to=to,
                          subject="stopit-mail: the worker has stopped - mail is waiting", body=body,
                          extra_headers={"Importance": "high"})
            queued = enqueue(session, draft, ALERT, f"watchdog:{event.id}", None, envelope_from="").id
    if queued is not None:
        log.critical("watchdog: %s", "; ".join(health.problems))
        if transport is not None:
            # The worker that would deliver it may be the thing that stopped: deliver it here.
            deliver_one(factory, settings, transport, queued, now)
    return health
