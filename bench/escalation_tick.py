"""Cost of the worker's escalation tick with many reports waiting to be read.

The tick runs on every worker turn: it pages due escalations, counts new reports into read
deadlines and pages unread reports past their deadline. It must stay cheap when thousands of
reports sit unread but not yet overdue. This builds N cases with one report each (inserted
directly, no pipeline), lets one tick give them their deadlines, then measures, per call:
- bare: one transaction running one indexed SELECT (the floor of any tick);
- idle tick: `escalation_tick` with N unread reports, none due yet;
and prints both and their ratio. Then it moves the clock past every deadline and times the
tick that pages the first batch of them (one unread escalation each, a one-step chain).

    python bench/escalation_tick.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from stopit_mail.app import init_installation, open_app
from stopit_mail.cases.escalation import escalation_tick
from stopit_mail.models import Case, Escalation, RawMessage, RawStatus, ReadDeadline, Report


def per_call(fn: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = init_installation(Path(folder), "Bench U", "stopit@example.edu")
        chain = ('[[organisations.escalation.business_chain]]\ncontact = "primary"\n'
                 'addresses = ["oncall@example.edu"]\nwait_minutes = 10\n\n[limits]')
        config.write_text(config.read_text().replace("[limits]", chain, 1))
        app = open_app(config)
        now = datetime.now(UTC)
        with app.factory.begin() as session:
            for i in range(count):
                raw = RawMessage(source="bench", mail_from="", rcpt_to=[], content=b"x", size=1, sha256=f"{i:064d}",
                                 status=RawStatus.PROCESSED)
                case = Case(number=f"SI-2026-{i:05d}", reporter_code=f"r{i:011d}", organisation="main",
                            urgency="urgent", opened_at=now)
                session.add_all([raw, case])
                session.flush()
                session.add(Report(case_id=case.id, raw_message_id=raw.id, received_at=now))
        # New reports are counted into read deadlines in batches of 500 per tick.
        start = time.perf_counter()
        ticks = 0
        while True:
            escalation_tick(app.factory, app.settings, now)
            ticks += 1
            with app.factory() as session:
                if session.scalar(select(func.count()).select_from(ReadDeadline)) == count:
                    break
        counting = time.perf_counter() - start
        print(f"counting {count} new reports into read deadlines: {ticks} ticks, {counting * 1e3:.0f} ms "
              f"({counting / count * 1e3:.3f} ms per report)")

        def bare() -> None:
            with app.factory.begin() as session:
                session.scalar(select(Escalation.id).where(Escalation.next_deadline <= now).limit(1))

        repeat = 200
        bare_s = per_call(bare, repeat)
        idle_s = per_call(lambda: escalation_tick(app.factory, app.settings, now), repeat)
        print(f"{count} unread reports, none due: bare {bare_s * 1e3:.2f} ms, idle tick {idle_s * 1e3:.2f} ms "
              f"({idle_s / bare_s:.1f}x bare)")
        later = now + timedelta(hours=2)
        start = time.perf_counter()
        escalation_tick(app.factory, app.settings, later)
        paging = time.perf_counter() - start
        with app.factory() as session:
            paged = session.scalar(select(func.count()).select_from(Escalation).where(Escalation.kind == "unread"))
        print(f"tick paging the first batch of overdue reports: {paged} paged in {paging * 1e3:.0f} ms "
              f"({paging / max(paged or 1, 1) * 1e3:.2f} ms each)")
        app.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
