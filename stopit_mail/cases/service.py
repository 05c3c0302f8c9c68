"""Open cases from reports, join duplicate reports, and find the case a reply belongs to.

Everything happens inside the caller's transaction, so a report either becomes a complete
case (report, evidence, parties, events) or leaves no trace and can be retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, exists, insert, select, union_all
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from stopit_mail import events
from stopit_mail.cases.aliases import ALLEGED_SENDER, REPORTER, NewAlias, create_aliases
from stopit_mail.cases.anonymity import REDACTED
from stopit_mail.cases.codes import new_reporter_code, next_case_number
from stopit_mail.cases.dedup import content_fingerprint, message_id_key, normalise_message_id
from stopit_mail.config import Organisation
from stopit_mail.db import inserts_skipping_taken
from stopit_mail.extract.evidence import EvidenceItem, Extraction
from stopit_mail.headers.stored import compact
from stopit_mail.models import Case, CaseAlias, Evidence, OutboxMessage, Party, Report
from stopit_mail.rowbuffer import HELD_ROWS_SEEN, buffer_of, insert_rows, write_through


class StoredReport(Protocol):
    """What filing needs of the stored message: its id and when it arrived."""

    @property
    def id(self) -> int: ...

    @property
    def received_at(self) -> datetime: ...


_REPORTS: Table = Report.__table__  # type: ignore[assignment]
_EVIDENCE: Table = Evidence.__table__  # type: ignore[assignment]
_PARTIES: Table = Party.__table__  # type: ignore[assignment]
_PARTIES_OF = select(_PARTIES.c.role, _PARTIES.c.address, _PARTIES.c.display_name).where(
    _PARTIES.c.case_id == bindparam("case_id"))


@dataclass(frozen=True)
class Filed:
    """Where a report was filed: its case, whether it joined one, its row and its sender's alias."""

    case: Case
    joined: bool
    report_id: int
    sender_role: str
    alias: NewAlias


def _title(extraction: Extraction) -> str:
    for item in extraction.items:
        if item.is_message and item.subject:
            return item.subject[:200]
    return (extraction.subject or "(no subject)")[:200]


# Built once (filing runs it for every report); an empty list matches nothing.
# On the tables, not the mapped classes: a Core statement skips the ORM's per-call compile step.
_CASES: Table = Case.__table__  # type: ignore[assignment]
# The evidence rows are found through the indexes of their two keys (a union of two look-ups),
# then their cases: written as one OR beside the organisation, the query was planned as a walk
# through every evidence row of every case of the organisation, for every report filed.
_MATCHING = union_all(select(_EVIDENCE.c.id).where(_EVIDENCE.c.message_id_key.in_(bindparam("mids", expanding=True))),
                      select(_EVIDENCE.c.id).where(_EVIDENCE.c.fingerprint.in_(bindparam("prints", expanding=True))))
_ALIASES: Table = CaseAlias.__table__  # type: ignore[assignment]
_SENDER_ALIAS = select(_ALIASES.c.id).where(
    _ALIASES.c.case_id == bindparam("case_id"), _ALIASES.c.side == ALLEGED_SENDER, _ALIASES.c.report_id.is_(None))
# The case's columns are read by the same statement (a join usually finds a case of an earlier
# batch), with whether it has its alleged sender's alias: the join path's only read. Core, sent
# on the session's connection: through the ORM (its expanding IN and entity loading) the search
# cost twice as much, and every report makes it, most of them finding nothing.
_HAS_SENDER_ALIAS = "has_sender_alias"
_DUPLICATE = (select(*_CASES.columns, exists().where(_ALIASES.c.case_id == _CASES.c.id,
                                                     _ALIASES.c.side == ALLEGED_SENDER,
                                                     _ALIASES.c.report_id.is_(None)).label(_HAS_SENDER_ALIAS))
              .join(_EVIDENCE, _EVIDENCE.c.case_id == _CASES.c.id)
              .where(_EVIDENCE.c.id.in_(_MATCHING), _CASES.c.organisation == bindparam("organisation"))
              .order_by(_EVIDENCE.c.id).limit(1))


def evidence_keys(items: list[EvidenceItem]) -> list[tuple[str | None, str | None]]:
    """Each item's Message-ID key and content fingerprint (computed once: filing needs both twice)."""
    return [(message_id_key(i), content_fingerprint(i)) for i in items]


def find_duplicate_case(session: Session, items: list[EvidenceItem], organisation: str,
                        keys: list[tuple[str | None, str | None]] | None = None) -> Case | None:
    """The organisation's case that already holds one of these offending messages, if any.

    Only within one organisation: a report to another school must never land in a case its
    staff cannot see (nor show this school's staff a report that was not sent to them).
    `keys`: the items' `evidence_keys`, when the caller has them already.
    """
    return _duplicate(session, items, organisation, keys)[0]


def _duplicate(session: Session, items: list[EvidenceItem], organisation: str,
               keys: list[tuple[str | None, str | None]] | None = None) -> tuple[Case | None, bool | None]:
    """`find_duplicate_case`, and whether that case has its alleged sender's alias (None: not known)."""
    keys = evidence_keys(items) if keys is None else keys
    mids = [mid for mid, _ in keys if mid]
    prints = [fingerprint for _, fingerprint in keys if fingerprint]
    if not mids and not prints:
        return None, None
    # Evidence written earlier in the same batch may still be held (`rowbuffer`): it is looked at
    # after the database's, as it came after it. A case with held updates is in the session (the
    # buffer keeps it there), and that object is the one returned, with its values as written.
    # Aliases are never held (each is inserted at once), so the alias flag read with it is current.
    found = session.connection().execute(_DUPLICATE, {"organisation": organisation, "mids": mids,
                                                      "prints": prints}).first()
    if found is not None:
        row = found._asdict()
        has_sender_alias = bool(row.pop(_HAS_SENDER_ALIAS))
        return _attached(session, row), has_sender_alias
    buffer = buffer_of(session)
    if buffer is not None:
        return _held_duplicate(session, buffer.held(_EVIDENCE), set(mids), set(prints), organisation), None
    return None, None


def _held_duplicate(session: Session, held: list[dict[str, Any]], mids: set[str], prints: set[str],
                    organisation: str) -> Case | None:
    """The case of the first held evidence row with one of these keys, in `organisation`."""
    for row in held:
        if row["message_id_key"] in mids or row["fingerprint"] in prints:
            case = session.get(Case, row["case_id"])
            if case is not None and case.organisation == organisation:
                return case
    return None


def _evidence_row(case: Case, report_id: int, item: EvidenceItem, keys: tuple[str | None, str | None]) -> dict[str, Any]:
    return {
        "case_id": case.id, "report_id": report_id, "kind": item.kind, "completeness": item.completeness,
        "mime_path": item.mime_path, "content_type": item.content_type, "filename": item.filename,
        "size": len(item.content) if item.content is not None else len(item.body_text or ""),
        "sha256": item.sha256, "content": item.content,
        "orig_from_address": item.from_address, "orig_from_name": item.from_name,
        "orig_to": item.to, "orig_cc": item.cc, "orig_date": item.date, "orig_subject": item.subject,
        "orig_message_id": item.message_id, "message_id_key": keys[0],
        "fingerprint": keys[1], "header_block": item.header_block,
        "body_text": item.body_text, "problems": item.problems, "analysis": compact(item.analysis),
    }


def sender_wrote_the_evidence(extraction: Extraction, sender: str) -> bool:
    """True when every offending message with a sender was written by the report's own sender.

    That is the alleged sender forwarding his own mail (to join the victim's case, or to learn
    its code): his report is kept apart from the reporters and flagged for staff.
    """
    sender = sender.strip().lower()
    senders = {(i.from_address or "").lower() for i in extraction.items if i.is_message and i.from_address}
    return bool(sender) and senders == {sender}


def record_parties(session: Session, case: Case, extraction: Extraction, mailboxes: list[str],
                   sender_role: str = REPORTER, new: bool = False) -> None:
    """The reporter, the alleged senders of the evidence, and the other recipients.

    Collected first, then the ones the case does not have yet are inserted in one statement (one
    query for the existing ones instead of one query and one flush per party).
    """
    wanted: dict[tuple[str, str, str], None] = {}

    def add(role: str, address: str, name: str) -> None:
        address, name = (address or "").strip().lower(), (name or "").strip()
        if address or name:
            wanted[(role, address, name)] = None

    if sender_role == REPORTER:
        add("reporter", extraction.reporter_address, extraction.reporter_name)
    ours = {m.lower() for m in mailboxes}
    reporter = extraction.reporter_address.lower()
    for item in extraction.items:
        if not item.is_message:
            continue
        if sender_role == REPORTER and reporter and (item.from_address or "").lower() == reporter:
            continue  # the reporter's own message quoted in a thread: not an alleged sender
        add("alleged-sender", item.from_address or "", item.from_name or "")
        for name, address in item.to + item.cc:
            if name == REDACTED and not address:
                continue  # the anonymous reporter, blanked at intake
            if address.lower() not in ours and address.lower() != reporter:
                add("recipient", address, name)
    if not wanted:
        return
    # A party the case has already (in the database or held for the batch) is skipped by the
    # INSERT itself (the four columns are unique): joining a case reads none of its parties.
    statement = _INSERT_PARTIES.get(session.get_bind().dialect.name)
    have: set[tuple[str, str, str]] = set()
    if statement is None and not new:  # another database: read the case's parties, stored and held
        have = {(role, address, name) for role, address, name in session.execute(
            _PARTIES_OF, {"case_id": case.id}, execution_options={HELD_ROWS_SEEN: True})}
        buffer = buffer_of(session)
        held = buffer.held(_PARTIES) if buffer is not None else []
        have |= {(r["role"], r["address"], r["display_name"]) for r in held if r["case_id"] == case.id}
    rows = [{"case_id": case.id, "role": role, "address": address, "display_name": name,
             "domain": address.partition("@")[2]}
            for role, address, name in wanted if (role, address, name) not in have]
    insert_rows(session, _PARTIES, rows, statement)


_INSERT_PARTIES = inserts_skipping_taken(_PARTIES, "case_id", "role", "address", "display_name")


def open_or_join_case(
    session: Session, org: Organisation, raw: StoredReport, extraction: Extraction,
    sealed_identity: str | None = None, sender_address: str = "",
    keys: list[tuple[str | None, str | None]] | None = None,
) -> Filed:
    """File a report: join the case of a duplicate offending message, or open a new one.

    With `sealed_identity` the report is anonymous: the extraction has already been redacted,
    the reporter gets no readable party row, and the case is marked anonymous. `sender_address`
    is the report's sender as received (also for sealed reports, in memory only): when they wrote
    the evidence themselves, the report is filed with sender_role "alleged-sender".
    Every report gets its own alias: joining never discloses another reporter's code.
    `keys`: the items' `evidence_keys`, when the caller computed them already.

    Only the case is an ORM object (later steps change it); the report, its aliases, evidence,
    parties and events are plain inserts, one statement per table.
    """
    sender_role = ALLEGED_SENDER if sender_wrote_the_evidence(
        extraction, sender_address or extraction.reporter_address) else REPORTER
    keys = evidence_keys(extraction.items) if keys is None else keys
    case, has_sender_alias = _duplicate(session, extraction.items, org.slug, keys)
    joined = case is not None
    now = datetime.now(UTC)
    log: list[dict[str, Any]] = []
    if case is None:
        case = _insert_case(session, {
            "number": next_case_number(session, org.case_prefix, now.year),
            "reporter_code": new_reporter_code(), "sender_code": new_reporter_code(), "organisation": org.slug,
            "title": _title(extraction), "anonymous": bool(sealed_identity), "opened_at": now, "updated_at": now,
            "categories": [],
        })
        log.append(events.entry("case-opened", case.id, number=case.number, raw_message_id=raw.id))
    report_id = session.execute(_INSERT_REPORT, {
        "case_id": case.id, "raw_message_id": raw.id, "reporter_address": extraction.reporter_address or None,
        "reporter_name": extraction.reporter_name or None, "sealed_identity": sealed_identity,
        "subject": extraction.subject, "sender_role": sender_role,
        "wrapper_text": extraction.wrapper_text, "received_at": raw.received_at,
    }).scalar_one()
    # The case's reporter code belongs to the first reporter of a new case (what older versions
    # told every reporter); anyone joining, and an alleged sender, gets a code of their own.
    wanted: list[tuple[str, int | None, str | None]] = [
        (sender_role, report_id, case.reporter_code if not joined and sender_role == REPORTER else None)]
    if not joined or not (has_sender_alias if has_sender_alias is not None else _has_sender_alias(session, case)):
        if not case.sender_code:
            case.sender_code = new_reporter_code()
        wanted.append((ALLEGED_SENDER, None, case.sender_code))
    alias = create_aliases(session, case.id, wanted)[0]
    if sender_role == ALLEGED_SENDER:
        log.append(events.entry("alleged-sender-report", case.id, report_id=report_id,
                                reason="the sender of this report wrote the offending message(s) themselves; "
                                       "kept apart from the reporters"))
    insert_rows(session, _EVIDENCE, [_evidence_row(case, report_id, item, key)
                                          for item, key in zip(extraction.items, keys, strict=True)])
    if sealed_identity and not case.anonymous:
        case.anonymous = True
    record_parties(session, case, extraction, org.mailboxes, sender_role, new=not joined)
    log.append(events.entry("report-joined" if joined else "report-filed", case.id,
                            report_id=report_id, evidence=len(extraction.items)))
    events.record_all(session, log)
    if joined:
        write_through(session, case, {"updated_at": now})
    return Filed(case, joined, report_id, sender_role, alias)


_INSERT_REPORT = insert(_REPORTS).returning(_REPORTS.c.id)
# A new row reads nothing held for the batch (held updates are of other cases' columns).
_INSERT_CASE = insert(_CASES).returning(_CASES.c.id).execution_options(**{HELD_ROWS_SEEN: True})


def _insert_case(session: Session, given: dict[str, Any]) -> Case:
    """A new case row written with Core, and its ORM object attached as loaded (no flush).

    Every column is given a value (its scalar default, else None) so the object reads none of
    them back; a column with a computed default not given here is filled by the INSERT and
    loaded on first access."""
    row = dict(given)
    for column in _CASES.columns:
        if column.primary_key or column.key in row:
            continue
        if column.default is None:
            row[column.key] = None
        elif column.default.is_scalar:
            row[column.key] = column.default.arg  # type: ignore[attr-defined]
    return _attached(session, {"id": session.execute(_INSERT_CASE, row).scalar_one(), **row})


def _attached(session: Session, row: dict[str, Any]) -> Case:
    """The case of a row read or written with Core: the session's own object when it has one
    (its values as the batch wrote them), else a new one attached as loaded (no flush, no read)."""
    found = session.identity_map.get(session.identity_key(Case, row["id"]))
    if isinstance(found, Case):
        return found
    # Made as the ORM makes a loaded row (no __init__, the values put in place as they are): the
    # constructor sets the ~20 columns one attribute event at a time, each recorded as a change
    # for the unit of work to forget again, and cost more than the query that read the row.
    case = _NEW_CASE()
    instance_state(case).dict.update(row)
    make_transient_to_detached(case)
    session.add(case)
    return case


_NEW_CASE = Case.__mapper__.class_manager.new_instance


def _has_sender_alias(session: Session, case: Case) -> bool:
    return session.scalar(_SENDER_ALIAS, {"case_id": case.id}) is not None



def case_of_sent_message(session: Session, referenced_ids: list[str]) -> Case | None:
    """The case of a message we sent (any kind, pages too) named by these ids: for bounces."""
    keys = [f"<{normalise_message_id(r)}>" for r in referenced_ids]
    if not keys:
        return None
    case_id = session.scalar(select(OutboxMessage.case_id).where(
        OutboxMessage.message_id.in_(keys), OutboxMessage.case_id.is_not(None)).limit(1))
    return session.get(Case, case_id) if case_id is not None else None
