"""Referrals to offices, by staff or automatically by routing rules.

A referral carries the case summary and its evidence, but not the reporter's identity unless
the reporter agreed (`identity_consent`, recorded by staff when the reporter says so). Without
consent the evidence is attached redacted (their address and name blanked, which breaks any
DKIM signature; the referral says so) and their own words are withheld.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.anonymity import Identity, redact_bytes, reporter_identities
from stopit_mail.cases.codes import case_alias
from stopit_mail.cases.notices import NoticeError, PreparedMail, guard, organisation_of, template_dirs
from stopit_mail.cases.staff import Actor
from stopit_mail.config import Office, Organisation, Settings
from stopit_mail.models import Case, CaseStatus, Evidence, OutboxMessage
from stopit_mail.outbound.compose import Attachment, Draft
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.outbound.render import make_environment, render

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


def find_office(org: Organisation, name: str) -> Office:
    """An office of the organisation by name."""
    for office in org.offices:
        if office.name == name:
            return office
    known = ", ".join(o.name for o in org.offices) or "none configured"
    raise NoticeError(f"no office {name!r} in {org.slug} (offices: {known})")


def _evidence_line(item: Evidence) -> str:
    if item.completeness.value == "file":
        return f"file {item.filename or '(unnamed)'} ({item.content_type}, {item.size} bytes, sha256 {item.sha256})"
    origin = ""
    if item.analysis and isinstance(item.analysis.get("trace"), dict):
        verdict = item.analysis["trace"].get("origin") or {}
        if verdict.get("ip"):
            origin = f"; origin {verdict['ip']} ({verdict.get('confidence', 'unknown')})"
    return (f"message from {item.orig_from_address or item.orig_from_name or 'unknown'}, "
            f"dated {item.orig_date or 'unknown'}, {item.completeness.value}{origin}")


def _attachments(case: Case, identities: list[Identity], with_identity: bool) -> tuple[list[Attachment], str]:
    attachments: list[Attachment] = []
    skipped = 0
    for item in case.evidence:
        if item.content is None or item.size > MAX_ATTACHMENT_BYTES:
            skipped += item.content is not None
            continue
        content = item.content
        if not with_identity:
            for identity in identities:
                content = redact_bytes(content, identity)
        name = item.filename or f"evidence-{item.id}.eml" if item.completeness.value == "full" else item.filename
        attachments.append(Attachment(name or f"evidence-{item.id}", item.content_type or "application/octet-stream", content))
    notes = []
    if attachments and not with_identity:
        notes.append("Attached evidence has the reporter's address and name blanked out, so its DKIM signatures "
                     "no longer verify; stopit holds the originals and their verification results.")
    if skipped:
        notes.append(f"{skipped} item(s) over {MAX_ATTACHMENT_BYTES // 1048576} MB were not attached; ask stopit staff.")
    return attachments, " ".join(notes)


def prepare_referral(settings: Settings, case: Case, office_name: str, with_identity: bool = False) -> PreparedMail:
    """Render a referral with evidence; identity only with the reporter's recorded consent."""
    if with_identity and not case.identity_consent:
        raise NoticeError(f"the reporter of {case.number} has not agreed to share their identity "
                          "(record it with `stopit cases consent` when they do)")
    org = organisation_of(settings, case)
    office = find_office(org, office_name)
    identities = reporter_identities(settings, case)
    reporter_lines = [f"{i.name} <{i.address}>".strip() for i in identities] if with_identity else []
    attachments, note = _attachments(case, identities, with_identity)
    triage = case.triage or {}
    rendered = render(
        make_environment(template_dirs(settings, org)), "office/referral.txt.j2",
        organisation=org.name, office_title=office.title or office.name, case_number=case.number,
        opened_at=case.opened_at.strftime("%Y-%m-%d %H:%M UTC"), urgency=case.urgency,
        categories=list(case.categories or []), triage_explanation=triage.get("explanation", ""),
        reporter_lines=reporter_lines, evidence=[_evidence_line(e) for e in case.evidence],
        attachments_note=note,
    )
    alias = case_alias(case.sender_code or case.reporter_code, org.mailboxes[0])
    draft = Draft(from_address=alias, from_name=f"{org.name} stopit", to=list(office.addresses),
                  subject=rendered.subject, body=rendered.body, reply_to=alias, automatic=False,
                  attachments=attachments)
    guard(settings, case, draft, allow_identity=with_identity)
    return PreparedMail(draft, "office/referral.txt.j2", ", ".join(office.addresses))


def refer(session: Session, settings: Settings, actor: Actor | None, case: Case, office_name: str,
          with_identity: bool = False) -> OutboxMessage:
    """Queue a referral (actor None: an automatic routing rule) and mark the case referred."""
    if actor is not None:
        actor.check_case(case)
    prepared = prepare_referral(settings, case, office_name, with_identity)
    name = actor.name if actor else events.SYSTEM_ACTOR
    row = enqueue(session, prepared.draft, "referral", f"referral:{case.id}:{office_name}", case.id,
                  envelope_from=prepared.draft.from_address, actor=name, office=office_name,
                  with_identity=with_identity)
    case.status = CaseStatus.REFERRED
    return row


def matching_offices(org: Organisation, case: Case) -> list[Office]:
    """Offices whose categories (and urgencies, when listed) match the case."""
    categories = set(case.categories or [])
    return [o for o in org.offices
            if categories & set(o.categories) and (not o.urgencies or case.urgency in o.urgencies)]


def route(session: Session, settings: Settings, case: Case) -> list[str]:
    """Apply routing rules: refer automatically where configured, else suggest; returns actions."""
    org = organisation_of(settings, case)
    done: list[str] = []
    for office in matching_offices(org, case):
        if office.auto_refer:
            refer(session, settings, None, case, office.name)
            done.append(f"referred:{office.name}")
        else:
            events.record(session, "referral-suggested", case.id, office=office.name,
                          categories=sorted(set(case.categories or []) & set(office.categories)))
            done.append(f"suggested:{office.name}")
    return done


def record_consent(session: Session, actor: Actor, case: Case, reason: str) -> None:
    """Record that the reporter agreed to share their identity with offices."""
    actor.check_case(case)
    case.identity_consent = True
    events.record(session, "identity-consent-recorded", case.id, actor=actor.name, automatic=False, reason=reason)
