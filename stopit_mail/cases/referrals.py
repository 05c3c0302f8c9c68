"""Referrals to offices, by staff or automatically by routing rules.

A referral carries the case summary and its evidence, but not the reporter's identity unless
the reporter agreed (`identity_consent`, recorded by staff when the reporter says so). Without
consent the evidence is attached redacted on its decoded MIME structure (`outbound.redact`:
every header and text part in any encoding, their other addresses and name variants, image
metadata; which breaks any DKIM signature, as the referral says), anything that cannot be
redacted with certainty is left out and listed, and their own words are withheld. Each office
writes back to an alias of its own, so its answers are filed as the office's.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.aliases import alias_address, office_alias
from stopit_mail.cases.anonymity import reporter_identities
from stopit_mail.cases.notices import NoticeError, PreparedMail, guard, organisation_of, template_dirs
from stopit_mail.cases.reporter_traces import reporter_traces
from stopit_mail.cases.staff import Actor
from stopit_mail.config import Office, Organisation, Settings
from stopit_mail.models import Case, CaseAlias, CaseStatus, Evidence, OutboxMessage
from stopit_mail.outbound.compose import Attachment, Draft
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.outbound.redact import Traces, redact_file
from stopit_mail.outbound.render import make_environment, render
from stopit_mail.sealing import open_bytes

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


def _office_alias(case: Case, office: str) -> CaseAlias:
    session = Session.object_session(case)
    if session is None:
        raise NoticeError("the case is not attached to a database session")
    return office_alias(session, case, office)


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


def _attachments(case: Case, traces: Traces, with_identity: bool,
                 settings: Settings) -> tuple[list[Attachment], str]:
    attachments: list[Attachment] = []
    skipped = 0
    left_out: list[str] = []
    for item in case.evidence:
        if item.content is None or item.size > MAX_ATTACHMENT_BYTES:
            skipped += item.content is not None
            continue
        content = open_bytes(settings, item.content)
        full = item.completeness.value == "full"
        name = (item.filename or f"evidence-{item.id}.eml") if full else (item.filename or f"evidence-{item.id}")
        content_type = item.content_type or "application/octet-stream"
        if not with_identity:
            redacted = redact_file(content, "message/rfc822" if full else content_type, name, traces)
            if redacted.content is None:
                left_out.extend(redacted.left_out)
                continue
            content, content_type, name = redacted.content, redacted.content_type, redacted.filename or name
        attachments.append(Attachment(name, content_type, content))
    notes = []
    if attachments and not with_identity:
        notes.append("Attached evidence has every trace of the reporter removed (addresses, names, their words; "
                     "image metadata stripped), so its DKIM signatures no longer verify; stopit holds the "
                     "originals and their verification results.")
    if left_out:
        notes.append(f"{len(left_out)} item(s) were left out because they cannot be redacted with certainty: "
                     + "; ".join(traces.scrub(x) for x in left_out)[:600] + ". Ask stopit staff.")
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
    traces = reporter_traces(settings, case, keep=set(office.addresses))
    attachments, note = _attachments(case, traces, with_identity, settings)
    triage = case.triage or {}
    rendered = render(
        make_environment(template_dirs(settings, org)), "office/referral.txt.j2",
        organisation=org.name, office_title=office.title or office.name, case_number=case.number,
        opened_at=case.opened_at.strftime("%Y-%m-%d %H:%M UTC"), urgency=case.urgency,
        categories=list(case.categories or []), triage_explanation=traces.scrub(triage.get("explanation", "")),
        reporter_lines=reporter_lines, evidence=[_evidence_line(e) for e in case.evidence],
        attachments_note=note,
    )
    alias = alias_address(_office_alias(case, office.name).code, org.mailboxes[0])
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
                  alias_id=_office_alias(case, office_name).id,
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
