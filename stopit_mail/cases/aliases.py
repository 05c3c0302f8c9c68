"""Per-counterpart case aliases: the only keys that file a reply into a case.

Every report gets its own reporter alias (`stopit+<code>@domain`), the alleged sender gets one,
and each office a case is referred to gets one. A reply is filed only when it is written to one
of these unguessable aliases or threads (In-Reply-To/References) on a message we sent from one;
a case number in the subject is a hint for staff and grants nothing. Because each counterpart
has its own alias, nobody who joins a case learns another reporter's code, address or existence,
and an office's answer is never mistaken for the alleged sender's.

This is the API the web door uses too: `reporter_alias(session, report)` for the code to show a
reporter, `resolve(session, code)` to find what a code opens.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from stopit_mail.cases.codes import case_alias as alias_address
from stopit_mail.cases.codes import new_reporter_code, normalise_code
from stopit_mail.cases.dedup import normalise_message_id
from stopit_mail.db import inserts_skipping_taken
from stopit_mail.models import Case, CaseAlias, OutboxMessage, Report

__all__ = ["ALLEGED_SENDER", "OFFICE", "REPORTER", "NewAlias", "ReplyTarget", "alias_address", "create_aliases",
           "is_our_message", "office_alias", "reporter_alias", "resolve", "sender_alias", "thread_target"]

REPORTER = "reporter"
ALLEGED_SENDER = "alleged-sender"
OFFICE = "office"


@dataclass(frozen=True)
class ReplyTarget:
    """Where a reply belongs: the case, the side it came from, and the report or office behind it."""

    case: Case
    alias: CaseAlias

    @property
    def side(self) -> str:
        """reporter, alleged-sender or office."""
        return self.alias.side


def _unused_code(session: Session, preferred: str | None = None) -> str:
    code = preferred or new_reporter_code()
    while session.scalar(select(CaseAlias.id).where(CaseAlias.code == code)) is not None:
        code = new_reporter_code()
    return code


def _create(session: Session, case: Case, side: str, report: Report | None = None, office: str | None = None,
            code: str | None = None) -> CaseAlias:
    alias = CaseAlias(case_id=case.id, code=_unused_code(session, code), side=side,
                      report_id=report.id if report is not None else None, office=office)
    session.add(alias)
    session.flush()
    return alias


@dataclass(frozen=True)
class NewAlias:
    """An alias just created by `create_aliases`: its row id and code."""

    id: int
    code: str


_ALIASES: Table = CaseAlias.__table__  # type: ignore[assignment]


_TAKEN = select(_ALIASES.c.code).where(_ALIASES.c.code.in_(bindparam("codes", expanding=True)))
_INSERT_RETURNING = insert(_ALIASES).returning(_ALIASES.c.id, _ALIASES.c.code)
# Codes are unique: a row whose code is taken is not inserted (and not returned), so checking
# the codes and inserting the rows is one statement where the database can say so.
_INSERT_UNTAKEN = inserts_skipping_taken(_ALIASES, "code", returning=(_ALIASES.c.id, _ALIASES.c.code))


def create_aliases(session: Session, case_id: int, wanted: list[tuple[str, int | None, str | None]]) -> list[NewAlias]:
    """Create aliases (side, report id, preferred code) on a case in one INSERT, in order.

    For filing a new report: a taken or repeated code is replaced by a fresh one. On SQLite and
    PostgreSQL the INSERT itself skips a row whose code is taken (then only that row is tried
    again with a fresh code); elsewhere one query checks all the codes first. Either way one
    statement per alias and flush is spared.
    """
    codes = [code or new_reporter_code() for _side, _report, code in wanted]
    statement = _INSERT_UNTAKEN.get(session.get_bind().dialect.name)
    if statement is None:
        return _check_then_insert(session, case_id, wanted, codes)
    ids: dict[int, int] = {}
    while len(ids) < len(wanted):
        pending = [i for i in range(len(wanted)) if i not in ids]
        rows = [{"case_id": case_id, "code": codes[i], "side": wanted[i][0], "report_id": wanted[i][1],
                 "office": None} for i in pending]
        inserted = {code: int(row_id) for row_id, code in session.execute(statement, rows)}
        for i in pending:
            # A code given twice is inserted once (for its first row): the others get fresh ones.
            if codes[i] in inserted:
                ids[i] = inserted.pop(codes[i])
            else:
                codes[i] = new_reporter_code()
    return [NewAlias(ids[i], codes[i]) for i in range(len(wanted))]


def _check_then_insert(session: Session, case_id: int, wanted: list[tuple[str, int | None, str | None]],
                       codes: list[str]) -> list[NewAlias]:
    """`create_aliases` for a database without INSERT ... ON CONFLICT: check the codes, then insert."""
    while True:
        taken = set(session.scalars(_TAKEN, {"codes": codes}))
        clash = [i for i, code in enumerate(codes) if code in taken or code in codes[:i]]
        if not clash:
            break
        for i in clash:
            codes[i] = new_reporter_code()
    rows = [{"case_id": case_id, "code": code, "side": side, "report_id": report_id, "office": None}
            for (side, report_id, _code), code in zip(wanted, codes, strict=True)]
    # One statement for all of them (ids matched by their codes, which are unique): asking for
    # the ids in the order of the rows makes SQLite send one INSERT per row.
    ids = {code: int(row_id) for row_id, code in session.execute(_INSERT_RETURNING, rows)}
    return [NewAlias(ids[code], code) for code in codes]


def reporter_alias(session: Session, report: Report, code: str | None = None) -> CaseAlias:
    """The alias of one report's sender (created on first use, with `code` if given); theirs alone."""
    found = session.scalar(select(CaseAlias).where(CaseAlias.report_id == report.id))
    if found is not None:
        return found
    side = ALLEGED_SENDER if report.sender_role == ALLEGED_SENDER else REPORTER
    case = session.get(Case, report.case_id)
    assert case is not None
    return _create(session, case, side, report=report, code=code)


def sender_alias(session: Session, case: Case) -> CaseAlias:
    """The alias notices to the alleged sender come from (the case's sender code)."""
    found = session.scalar(select(CaseAlias).where(
        CaseAlias.case_id == case.id, CaseAlias.side == ALLEGED_SENDER, CaseAlias.report_id.is_(None)))
    if found is not None:
        return found
    if not case.sender_code:
        case.sender_code = new_reporter_code()
    return _create(session, case, ALLEGED_SENDER, code=case.sender_code)


def office_alias(session: Session, case: Case, office: str) -> CaseAlias:
    """The alias a referral to `office` comes from, so the office's answers are filed as theirs."""
    found = session.scalar(select(CaseAlias).where(
        CaseAlias.case_id == case.id, CaseAlias.side == OFFICE, CaseAlias.office == office))
    return found if found is not None else _create(session, case, OFFICE, office=office)


def resolve(session: Session, code: str) -> ReplyTarget | None:
    """What an alias code opens, or None (a guessed or stale code opens nothing)."""
    alias = session.scalar(select(CaseAlias).where(CaseAlias.code == normalise_code(code)))
    if alias is None:
        return None
    case = session.get(Case, alias.case_id)
    return ReplyTarget(case, alias) if case is not None else None


def thread_target(session: Session, referenced_ids: list[str]) -> ReplyTarget | None:
    """The alias of a message we sent that these In-Reply-To/References ids name, if any."""
    keys = [f"<{normalise_message_id(r)}>" for r in referenced_ids]
    if not keys:
        return None
    # Message-IDs we generate are lower-case, so the normalised form matches them exactly.
    alias_id = session.scalar(select(OutboxMessage.alias_id).where(
        OutboxMessage.message_id.in_(keys), OutboxMessage.alias_id.is_not(None)).order_by(OutboxMessage.id).limit(1))
    alias = session.get(CaseAlias, alias_id) if alias_id is not None else None
    case = session.get(Case, alias.case_id) if alias is not None else None
    return ReplyTarget(case, alias) if alias is not None and case is not None else None


def is_our_message(session: Session, referenced_ids: list[str]) -> bool:
    """True when any referenced id is a Message-ID we sent (an answer to our own mail)."""
    keys = [f"<{normalise_message_id(r)}>" for r in referenced_ids]
    return bool(keys) and session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.message_id.in_(keys)).limit(1)) is not None
