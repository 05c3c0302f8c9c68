"""Open cases from reports, join duplicate reports, and find the case a reply belongs to.

Everything happens inside the caller's transaction, so a report either becomes a complete
case (report, evidence, parties, events) or leaves no trace and can be retried.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.anonymity import REDACTED
from stopit_mail.cases.codes import new_reporter_code, next_case_number, normalise_code
from stopit_mail.cases.dedup import content_fingerprint, message_id_key, normalise_message_id
from stopit_mail.config import Organisation
from stopit_mail.extract.evidence import EvidenceItem, Extraction
from stopit_mail.models import Case, Evidence, OutboxMessage, Party, RawMessage, Report


class StoredReport(Protocol):
    """What filing needs of the stored message: its id and when it arrived."""

    @property
    def id(self) -> int: ...

    @property
    def received_at(self) -> datetime: ...


def _title(extraction: Extraction) -> str:
    for item in extraction.items:
        if item.is_message and item.subject:
            return item.subject[:200]
    return (extraction.subject or "(no subject)")[:200]


def find_duplicate_case(session: Session, items: list[EvidenceItem], organisation: str) -> Case | None:
    """The organisation's case that already holds one of these offending messages, if any.

    Only within one organisation: a report to another school must never land in a case its
    staff cannot see (nor show this school's staff a report that was not sent to them).
    """
    mids = [k for k in (message_id_key(i) for i in items) if k]
    prints = [f for f in (content_fingerprint(i) for i in items) if f]
    if not mids and not prints:
        return None
    conditions = []
    if mids:
        conditions.append(Evidence.message_id_key.in_(mids))
    if prints:
        conditions.append(Evidence.fingerprint.in_(prints))
    case_id = session.scalar(select(Evidence.case_id).join(Case, Case.id == Evidence.case_id)
                             .where(Case.organisation == organisation, or_(*conditions)).order_by(Evidence.id).limit(1))
    return session.get(Case, case_id) if case_id is not None else None


def _evidence_row(case: Case, report: Report, item: EvidenceItem) -> Evidence:
    return Evidence(
        case_id=case.id, report_id=report.id, kind=item.kind, completeness=item.completeness,
        mime_path=item.mime_path, content_type=item.content_type, filename=item.filename,
        size=len(item.content) if item.content is not None else len(item.body_text or ""),
        sha256=item.sha256, content=item.content,
        orig_from_address=item.from_address, orig_from_name=item.from_name,
        orig_to=item.to, orig_cc=item.cc, orig_date=item.date, orig_subject=item.subject,
        orig_message_id=item.message_id, message_id_key=message_id_key(item),
        fingerprint=content_fingerprint(item), header_block=item.header_block,
        body_text=item.body_text, problems=item.problems, analysis=item.analysis,
    )


def record_parties(session: Session, case: Case, extraction: Extraction, mailboxes: list[str],
                   new: bool = False) -> None:
    """The reporter, the alleged senders of the evidence, and the other recipients.

    Collected first, then the ones the case does not have yet are inserted in one go (one
    query for the existing ones instead of one query and one flush per party).
    """
    wanted: dict[tuple[str, str, str], None] = {}

    def add(role: str, address: str, name: str) -> None:
        address, name = (address or "").strip().lower(), (name or "").strip()
        if address or name:
            wanted[(role, address, name)] = None

    add("reporter", extraction.reporter_address, extraction.reporter_name)
    ours = {m.lower() for m in mailboxes}
    reporter = extraction.reporter_address.lower()
    for item in extraction.items:
        if not item.is_message:
            continue
        add("alleged-sender", item.from_address or "", item.from_name or "")
        for name, address in item.to + item.cc:
            if name == REDACTED and not address:
                continue  # the anonymous reporter, blanked at intake
            if address.lower() not in ours and address.lower() != reporter:
                add("recipient", address, name)
    if not wanted:
        return
    have: set[tuple[str, str, str]] = set() if new else {
        (role, address, name) for role, address, name in session.execute(
            select(Party.role, Party.address, Party.display_name).where(Party.case_id == case.id))}
    session.add_all([Party(case_id=case.id, role=role, address=address, display_name=name,
                           domain=address.partition("@")[2])
                     for role, address, name in wanted if (role, address, name) not in have])


def open_or_join_case(
    session: Session, org: Organisation, raw: StoredReport, extraction: Extraction,
    sealed_identity: str | None = None,
) -> tuple[Case, bool]:
    """File a report: join the case of a duplicate offending message, or open a new one.

    With `sealed_identity` the report is anonymous: the extraction has already been redacted,
    the reporter gets no readable party row, and the case is marked anonymous.
    """
    case = find_duplicate_case(session, extraction.items, org.slug)
    joined = case is not None
    if case is None:
        now = datetime.now(UTC)
        case = Case(
            number=next_case_number(session, org.case_prefix, now.year),
            reporter_code=new_reporter_code(), sender_code=new_reporter_code(), organisation=org.slug,
            title=_title(extraction),
        )
        session.add(case)
        session.flush()
        events.record(session, "case-opened", case.id, number=case.number, raw_message_id=raw.id)
    report = Report(
        case_id=case.id, raw_message_id=raw.id, reporter_address=extraction.reporter_address or None,
        reporter_name=extraction.reporter_name or None, sealed_identity=sealed_identity,
        subject=extraction.subject,
        wrapper_text=extraction.wrapper_text, received_at=raw.received_at,
    )
    session.add(report)
    session.flush()
    for item in extraction.items:
        session.add(_evidence_row(case, report, item))
    if sealed_identity:
        case.anonymous = True
    record_parties(session, case, extraction, org.mailboxes, new=not joined)
    events.record(session, "report-joined" if joined else "report-filed", case.id,
                  report_id=report.id, evidence=len(extraction.items))
    case.updated_at = datetime.now(UTC)
    return case, joined


def find_case_for_reply(
    session: Session, alias_codes: list[str], subject_tags: list[str], referenced_ids: list[str]
) -> Case | None:
    """Resolve a reply's hints to a case: alias code first, then subject tag, then threading."""
    for code in alias_codes:
        code = normalise_code(code)
        case = session.scalar(select(Case).where(or_(Case.reporter_code == code, Case.sender_code == code)))
        if case is not None:
            return case
    for tag in subject_tags:
        case = session.scalar(select(Case).where(Case.number == tag))
        if case is not None:
            return case
    keys = [f"<{normalise_message_id(r)}>" for r in referenced_ids]
    if keys:
        case_id = session.scalar(
            select(RawMessage.case_id).where(RawMessage.message_id.in_(keys), RawMessage.case_id.is_not(None))
        )
        if case_id is None:
            # A reply to something we sent (an acknowledgement, a notice) threads by our Message-ID.
            case_id = session.scalar(select(OutboxMessage.case_id).where(
                OutboxMessage.message_id.in_(keys), OutboxMessage.case_id.is_not(None)))
        if case_id is not None:
            return session.get(Case, case_id)
    return None
