"""Referrals to offices, by staff or automatically by routing rules.

A referral carries what an office needs to act (`referral_content`): the reporter's own words,
the evidence with its text and verification, the triage's reasons, staff's note and, for an
emergency, where, when and who is at risk. It does not carry who the reporter is unless they
agreed (`identity_consent`, recorded by staff when the reporter says so). Without consent
every text is scrubbed of their identifiers, the evidence is attached redacted on its decoded
MIME structure (`outbound.redact`: every header and text part in any encoding, their other
addresses and name variants, image metadata; which breaks any DKIM signature, as the referral
says), anything that cannot be redacted with certainty is left out and listed, and the leak
guard checks the final message. Each office writes back to an alias of its own, so its
answers are filed as the office's.

A second referral to the same office is a new, audited message that says what it replaces:
after the reporter's consent, staff send the UPDATED referral with their identity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.aliases import alias_address, office_alias
from stopit_mail.cases.anonymity import Identity, reporter_identities
from stopit_mail.cases.identity_gate import disclose_by_consent
from stopit_mail.cases.notices import NoticeError, PreparedMail, guard, organisation_of, template_dirs
from stopit_mail.cases.referral_content import build_content
from stopit_mail.cases.reporter_traces import reporter_traces
from stopit_mail.cases.staff import Actor
from stopit_mail.config import Office, Organisation, Settings
from stopit_mail.models import Case, CaseAlias, CaseStatus, Event, Evidence, OutboxMessage
from stopit_mail.outbound.compose import Attachment, Draft
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.outbound.redact import Traces, redact_file
from stopit_mail.outbound.redact.errors import redact_error
from stopit_mail.outbound.render import make_environment, render
from stopit_mail.sealing import open_bytes
from stopit_mail.textsafe import terminal_safe

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
QUEUED = "referral-queued"


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
        notes.append("Attached evidence has every trace of who the reporter is removed (addresses, names, codes; "
                     "image metadata stripped), so its DKIM signatures no longer verify; the verification above "
                     "was made on the originals, which stopit holds.")
    if left_out:
        notes.append(f"{len(left_out)} item(s) were left out because they cannot be redacted with certainty: "
                     + "; ".join(traces.scrub(x) for x in left_out)[:600] + ". Ask stopit staff.")
    if skipped:
        notes.append(f"{skipped} item(s) over {MAX_ATTACHMENT_BYTES // 1048576} MB were not attached; ask stopit staff.")
    return attachments, " ".join(notes)


@dataclass(frozen=True)
class Update:
    """A referral that replaces an earlier one to the same office, and why."""

    previous_id: int
    previous_at: datetime
    why: str


@dataclass(frozen=True)
class PriorReferral:
    """The latest referral of a case to one office."""

    outbox_id: int
    queued_at: datetime
    with_identity: bool


def prior_referral(session: Session, case: Case, office_name: str) -> PriorReferral | None:
    """The latest referral queued for this case to this office, if any."""
    latest: PriorReferral | None = None
    for event in session.scalars(select(Event).where(Event.case_id == case.id, Event.action == QUEUED)
                                 .order_by(Event.id)):
        if event.detail.get("office") == office_name:
            latest = PriorReferral(int(event.detail.get("outbox_id") or 0), event.at,
                                   bool(event.detail.get("with_identity")))
    return latest


def plan_update(session: Session, case: Case, office_name: str, with_identity: bool, update: bool) -> Update | None:
    """None for a first referral, an Update for a new one; refuses a repeat that adds nothing.

    A referral with identity after one without (the reporter consented since) is an update by
    itself; anything else needs `update` (new evidence, a new note) so nothing is sent twice
    by mistake, and nothing is silently re-queued.
    """
    prior = prior_referral(session, case, office_name)
    if prior is None:
        return None
    when = f"{prior.queued_at:%Y-%m-%d %H:%M} UTC"
    if with_identity and not prior.with_identity:
        why = "the reporter has since agreed to share their identity with you, which this referral includes"
    elif update:
        why = "stopit staff send it again with what the case holds now"
    else:
        raise NoticeError(f"{case.number} was already referred to {office_name} on {when} (outbox {prior.outbox_id}"
                          f"{', with identity' if prior.with_identity else ''}); to send an updated referral, "
                          "add --update" + ("" if prior.with_identity or with_identity else
                                            " (or --with-identity once the reporter consents)"))
    return Update(prior.outbox_id, prior.queued_at, why)


def prepare_referral(settings: Settings, case: Case, office_name: str, with_identity: bool = False,
                     note: str = "", staff_name: str = "", update: Update | None = None,
                     identities: list[Identity] | None = None) -> PreparedMail:
    """Render a referral with the report's words and evidence; identity only with recorded consent.

    With identity, `identities` are the reporters as the identity gate disclosed them
    (`disclose_by_consent`, audited): this function never unseals anyone to name them.
    """
    if with_identity and not case.identity_consent:
        raise NoticeError(f"the reporter of {case.number} has not agreed to share their identity "
                          "(record it with `stopit cases consent` when they do)")
    if with_identity and identities is None:
        raise NoticeError("a referral with identity names the reporters the identity gate disclosed (none given)")
    org = organisation_of(settings, case)
    office = find_office(org, office_name)
    reporter_lines = [f"{i.name} <{i.address}>".strip() for i in identities or []] if with_identity else []
    traces = reporter_traces(settings, case, keep=set(office.addresses), words=False)
    attachments, attachments_note = _attachments(case, traces, with_identity, settings)
    content = build_content(Session.object_session(case), case, None if with_identity else traces)
    triage = case.triage or {}
    rendered = render(
        make_environment(template_dirs(settings, org)), "office/referral.txt.j2",
        organisation=org.name, office_title=office.title or office.name, case_number=case.number,
        opened_at=case.opened_at.strftime("%Y-%m-%d %H:%M UTC"), urgency=case.urgency,
        categories=list(case.categories or []), triage_explanation=traces.scrub(triage.get("explanation", "")),
        reporter_lines=reporter_lines, evidence=[_evidence_line(e) for e in case.evidence],
        attachments_note=attachments_note, reasons=content.reasons, reports=content.reports,
        evidence_items=content.evidence, files=content.files, facts=content.facts,
        staff_note=terminal_safe(note.strip()), staff_name=staff_name,
        update=None if update is None else {"previous_at": f"{update.previous_at:%Y-%m-%d %H:%M} UTC",
                                            "why": update.why},
    )
    alias = alias_address(_office_alias(case, office.name).code, org.mailboxes[0])
    draft = Draft(from_address=alias, from_name=f"{org.name} stopit", to=list(office.addresses),
                  subject=rendered.subject, body=rendered.body, reply_to=alias, automatic=False,
                  attachments=attachments)
    guard(settings, case, draft, allow_identity=with_identity, words=False, template="office/referral.txt.j2")
    return PreparedMail(draft, "office/referral.txt.j2", ", ".join(office.addresses))


def preview_referral(session: Session, settings: Settings, actor: Actor, case: Case, office_name: str,
                     with_identity: bool = False, note: str = "", update: bool = False) -> PreparedMail:
    """Exactly what `refer` would queue (refusing what it would refuse), for a confirmation."""
    actor.check_case(case)
    plan = plan_update(session, case, office_name, with_identity, update)
    # Unsealed in memory only to be scrubbed from the preview below (nobody is named to anyone).
    named = reporter_identities(settings, case) if with_identity and case.identity_consent else None
    prepared = prepare_referral(settings, case, office_name, with_identity, note, actor.name, plan, named)
    if with_identity and any(r.sealed_identity for r in case.reports):
        # The reporter agreed to tell the office, not every staff member: a sealed identity stays
        # out of the preview (the reveal role reads it through the identity gate).
        traces = reporter_traces(settings, case, keep=set(prepared.draft.to), words=False)
        shown = replace(prepared.draft, body=traces.scrub(prepared.draft.body) + "\n[preview: the reporter's sealed "
                        "identity, shown here as [reporter], and the original evidence go to the office]\n",
                        attachments=[])
        prepared = PreparedMail(shown, prepared.template, prepared.recipient)
    return prepared


def refer(session: Session, settings: Settings, actor: Actor | None, case: Case, office_name: str,
          with_identity: bool = False, note: str = "", update: bool = False) -> OutboxMessage:
    """Queue a referral (actor None: an automatic routing rule) and mark the case referred.

    A second referral to the same office is a new message (see `plan_update`), never the old
    one queued again; the audit records what it replaces.
    """
    if actor is not None:
        actor.check_case(case)
    plan = plan_update(session, case, office_name, with_identity, update)
    name = actor.name if actor else events.SYSTEM_ACTOR
    # Naming the reporter to the office goes through the identity gate (their consent; audited).
    named = disclose_by_consent(session, settings, actor, case, office_name) if with_identity else None
    prepared = prepare_referral(settings, case, office_name, with_identity, note, name, plan, named)
    # Each update replaces a different earlier referral, so its key is new (never the old row again).
    key = f"referral:{case.id}:{office_name}" + (f":update-of:{plan.previous_id}" if plan is not None else "")
    row = enqueue(session, prepared.draft, "referral", key, case.id,
                  envelope_from=prepared.draft.from_address, actor=name, office=office_name,
                  alias_id=_office_alias(case, office_name).id, with_identity=with_identity,
                  note=note.strip()[:2000], subject=prepared.draft.subject,
                  update_of=plan.previous_id if plan else None, why=plan.why if plan else None)
    case.status = CaseStatus.REFERRED
    return row


def refer_case(session: Session, settings: Settings, actor: Actor, case: Case, office_name: str,
               with_identity: bool = False, note: str = "", update: bool = False) -> dict[str, object]:
    """`refer` for staff, with what happened as plain data (for the CLI and the local API)."""
    prior = prior_referral(session, case, office_name)
    row = refer(session, settings, actor, case, office_name, with_identity, note, update)
    updated = prior is not None
    message = (f"queued {'an UPDATED ' if updated else ''}referral of {case.number} to {office_name} (outbox {row.id})"
               + (f", replacing the one of {prior.queued_at:%Y-%m-%d %H:%M} UTC (outbox {prior.outbox_id})"
                  if prior is not None else "")
               + ("; it includes the reporter's identity" if with_identity else "; the reporter's identity is withheld"))
    return {"case": case.number, "office": office_name, "outbox_id": row.id, "recipients": list(row.recipients),
            "with_identity": with_identity, "updated": updated,
            "replaces_outbox_id": prior.outbox_id if prior is not None else None, "message": message}


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
            # Automatic referrals go once per office; a later report on the case is for staff to pass on.
            if prior_referral(session, case, office.name) is None:
                done.append(_refer_automatically(session, settings, case, office.name))
        else:
            events.record(session, "referral-suggested", case.id, office=office.name,
                          categories=sorted(set(case.categories or []) & set(office.categories)))
            done.append(f"suggested:{office.name}")
    return done


def _refer_automatically(session: Session, settings: Settings, case: Case, office_name: str) -> str:
    """Refer to one office in its own savepoint: one office's failure (a refusal of the leak guard,
    a broken template) is recorded on the case for staff and never stops the offices after it (the
    dean on call after the police) nor undoes the ones before it."""
    try:
        with session.begin_nested():
            refer(session, settings, None, case, office_name)
    except Exception as exc:  # noqa: BLE001 - recorded on the case; the next office still goes
        session.expire(case)
        events.record(session, "referral-failed", case.id, office=office_name, automatic=True,
                      error=redact_error(f"{exc.__class__.__name__}: {exc}")[:1000])
        return f"failed:{office_name}"
    return f"referred:{office_name}"


def record_consent(session: Session, actor: Actor, case: Case, reason: str) -> None:
    """Record that the reporter agreed to share their identity with offices."""
    actor.check_case(case)
    case.identity_consent = True
    events.record(session, "identity-consent-recorded", case.id, actor=actor.name, automatic=False, reason=reason)
