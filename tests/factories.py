"""Build cases, reports, evidence and parties directly through the models, with chosen times.

Casework and statistics tests need cases in exact states (opened 200 days ago, triaged as
bullying, a notice sent to this sender...) faster and more precisely than ingesting mail.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy.orm import Session

from stopit_mail.cli import main
from stopit_mail.models import Case, Completeness, Event, Evidence, Party, RawMessage, Report

_serial = itertools.count(1)

TWO_ORGANISATIONS = """\
data_dir = "data"

[[organisations]]
slug = "north"
name = "North High"
mailboxes = ["stopit@north.example"]
case_prefix = "N"

[[organisations]]
slug = "south"
name = "South <High> & Annex"
mailboxes = ["stopit@south.example"]
case_prefix = "S"

[[staff]]
name = "Nora"
organisations = ["north"]

[[staff]]
name = "Ada"
roles = ["staff", "admin"]
"""


def write_two_org_config(folder: Path) -> Path:
    """A stopit.toml with organisations north and south, Nora (north only) and Ada (all)."""
    config = folder / "stopit.toml"
    config.write_text(TWO_ORGANISATIONS, encoding="utf-8")
    return config


def cli(config: Path, *args: str, ok: bool = True) -> str:
    """Run `stopit -c config ARGS`; assert success (or, with ok=False, failure); return the output."""
    # Wide enough that tables do not wrap the words the tests look for.
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["-c", str(config), *args])
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    else:
        assert result.exit_code != 0, result.output
    return result.output


def add_report(session: Session, case: Case, received_at: datetime, keys: Sequence[str] = (),
               reporter: str | None = None, wrapper_text: str = "", subject: str = "",
               body: str = "", evidence_subject: str = "", sender: str | None = None) -> Report:
    """A report on `case` whose evidence items carry these Message-ID keys."""
    n = next(_serial)
    raw = RawMessage(sha256=hashlib.sha256(str(n).encode()).hexdigest(), size=10, content=b"x" * 10,
                     source="file", received_at=received_at, case_id=case.id)
    session.add(raw)
    session.flush()
    report = Report(case_id=case.id, raw_message_id=raw.id, reporter_address=reporter, subject=subject,
                    wrapper_text=wrapper_text, received_at=received_at)
    session.add(report)
    session.flush()
    for key in keys or [f"<auto{n}@example>"]:
        session.add(Evidence(case_id=case.id, report_id=report.id, kind="message", completeness=Completeness.FULL,
                             orig_from_address=sender, orig_subject=evidence_subject or None,
                             body_text=body or None, message_id_key=key))
    session.flush()
    return report


def make_case(session: Session, organisation: str, opened_at: datetime, *, title: str = "a case",
              categories: Sequence[str] = (), urgency: str = "routine", senders: Sequence[str] = (),
              keys: Sequence[str] = (), anonymous: bool = False, reporter: str | None = None,
              wrapper_text: str = "", body: str = "") -> Case:
    """A case opened at `opened_at` with one report received then, and its alleged senders."""
    n = next(_serial)
    case = Case(number=f"{organisation[0].upper()}-2026-{n:04d}", reporter_code=f"code{n:08d}",
                organisation=organisation, title=title, categories=list(categories), urgency=urgency,
                opened_at=opened_at, updated_at=opened_at, anonymous=anonymous)
    session.add(case)
    session.flush()
    session.add(Event(case_id=case.id, at=opened_at, actor="stopit", action="case-opened", automatic=True,
                      detail={"number": case.number}))
    add_report(session, case, opened_at, keys, reporter=None if anonymous else reporter,
               wrapper_text=wrapper_text, body=body, sender=senders[0] if senders else None)
    for address in senders:
        session.add(Party(case_id=case.id, role="alleged-sender", address=address, domain=address.partition("@")[2]))
    if reporter and not anonymous:
        session.add(Party(case_id=case.id, role="reporter", address=reporter))
    session.flush()
    return case


def staff_event(session: Session, case: Case, at: datetime, action: str = "note-added", actor: str = "Ada") -> None:
    """A staff action on `case` at `at`."""
    session.add(Event(case_id=case.id, at=at, actor=actor, action=action, automatic=False, detail={}))
