"""Please-stop notices to alleged senders, in the MIT spirit: a request, not an accusation.

A notice names only what the recipient already knows (their own address and when the messages
were sent). It never names or hints at the reporter: before anything is queued, `guard`
decodes the composed mail and checks it against every trace of every reporter (addresses in
any form, names in any order, codes, their own words), and refuses to send on any match. Notices come from the case's sender alias
(`stopit+<sender code>@domain`), so replies thread back into the case without ever touching
the reporter's alias.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from stopit_mail import events
from stopit_mail.cases.aliases import alias_address, sender_alias
from stopit_mail.cases.anonymity import reporter_identities
from stopit_mail.cases.codes import format_code
from stopit_mail.cases.reporter_traces import reporter_traces
from stopit_mail.cases.staff import Actor
from stopit_mail.config import Organisation, Settings
from stopit_mail.errors import StopitError
from stopit_mail.models import Case, CaseAlias, CaseStatus, OutboxMessage
from stopit_mail.outbound.compose import Draft, compose
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.outbound.redact.guard import LeakFound, check
from stopit_mail.outbound.redact.traces import name_words
from stopit_mail.outbound.render import fixed_text, make_environment, render

NOTICE_TEMPLATES = {
    "please-stop": "sender/please-stop.txt.j2",
    "compromised": "sender/compromised-account.txt.j2",
    "second-notice": "sender/second-notice.txt.j2",
}


class NoticeError(StopitError):
    """A notice cannot be prepared: no recipient, an unknown template, or a leak refused."""


@dataclass
class PreparedMail:
    """A rendered message ready for preview or queuing."""

    draft: Draft
    template: str
    recipient: str

    def preview(self) -> str:
        """Exactly what would be sent, with a placeholder Message-ID (line ends as the terminal's)."""
        return compose(self.draft, "<preview@stopit>").decode("utf-8", "replace").replace("\r\n", "\n")


def organisation_of(settings: Settings, case: Case) -> Organisation:
    """The case's organisation (falls back to the first one if it was removed from config)."""
    return settings.organisation(case.organisation) or settings.default_organisation()


def template_dirs(settings: Settings, org: Organisation) -> list[Path]:
    """The organisation's override folder, when configured."""
    if not org.templates_dir:
        return []
    path = Path(org.templates_dir)
    return [path if path.is_absolute() else settings.base_dir / path]


def _sender_alias(case: Case) -> CaseAlias:
    session = Session.object_session(case)
    if session is None:
        raise NoticeError("the case is not attached to a database session")
    return sender_alias(session, case)


def alleged_senders(case: Case) -> list[str]:
    """Addresses of the alleged senders, in the order they were recorded."""
    return [p.address for p in case.parties if p.role == "alleged-sender" and p.address]


def incidents_for(case: Case, sender: str) -> list[str]:
    """'in November 2026' for each month in which `sender` sent an offending message.

    Only the month: the minute (or even the day) a message was sent identifies the one
    person it went to, and so who reported it, to a sender who wrote to several people.
    The month still lets an account owner whose password was stolen look for them."""
    found: list[str] = []
    for item in case.evidence:
        if (item.orig_from_address or "").lower() != sender.lower() or not item.orig_date:
            continue
        try:
            when = email.utils.parsedate_to_datetime(item.orig_date)
        except (TypeError, ValueError, IndexError):
            continue  # an unreadable date is left out rather than quoted as the sender wrote it
        text = f"in {_MONTHS[when.month - 1]} {when.year}"
        if text not in found:
            found.append(text)
    return found


# English month names, whatever the process's locale (the notices are written in English).
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _needles(settings: Settings, case: Case) -> list[str]:
    """Every string that would identify a reporter if it appeared in outgoing mail."""
    needles = [case.reporter_code, format_code(case.reporter_code)]
    for identity in reporter_identities(settings, case):
        needles.append(identity.address)
        local = identity.address.partition("@")[0]
        if len(local) >= 4:
            needles.append(local)
        if len(identity.name.strip()) >= 3:
            needles.append(identity.name.strip())
    for report in case.reports:
        for line in (report.wrapper_text or "").splitlines():
            if len(line.strip()) >= 16:
                needles.append(line.strip())
    return [n for n in needles if n]


def reporter_needles(settings: Settings, case: Case) -> list[str]:
    """The strings the leak guard looks for, for callers that redact them first (abuse reports)."""
    return _needles(settings, case)


def guard(settings: Settings, case: Case, draft: Draft, allow_identity: bool = False, words: bool = True,
          template: str = "") -> None:
    """Refuse mail whose final decoded MIME tree carries a reporter's identity, code or words.

    The draft is composed exactly as it will leave and every header, text part, HTML rendering,
    attached message and image's metadata is decoded and searched (`outbound.redact.guard`).
    `words=False` (referrals to an office) lets the reporter's own words through, not who they are.
    In what we wrote ourselves (the built-in `template`'s own text, our organisation's and offices'
    names) a word a reporter's name shares with it is no trace on its own: Jordan Case's emergency
    was otherwise never referred, since every referral says "case". An organisation's override
    template allows no word of its own: a careless one may name someone.
    """
    if allow_identity:
        return
    traces = reporter_traces(settings, case, keep=set(draft.to), words=words)
    org = organisation_of(settings, case)
    ours = [draft.from_name, org.name, *(f"{o.name} {o.title}" for o in org.offices)]
    if template:
        ours.append(fixed_text(make_environment(), template))
    try:
        check(compose(draft, "<guard@stopit>"), traces, frozenset(name_words("\n".join(ours))))
    except LeakFound as exc:
        raise NoticeError(str(exc)) from exc


def prepare_notice(settings: Settings, case: Case, template: str = "please-stop",
                   recipient: str | None = None) -> PreparedMail:
    """Render a notice for an alleged sender; StrictUndefined makes a missing variable an error."""
    if template not in NOTICE_TEMPLATES:
        raise NoticeError(f"unknown notice template {template!r} (choose from {', '.join(NOTICE_TEMPLATES)})")
    senders = alleged_senders(case)
    recipient = (recipient or (senders[0] if senders else "")).strip().lower()
    if not recipient:
        raise NoticeError(f"case {case.number} has no alleged sender address; give --to")
    org = organisation_of(settings, case)
    if settings.organisation_for(recipient) is not None:
        raise NoticeError(f"refused: {recipient} is one of our own addresses")
    if recipient in {i.address.lower() for i in reporter_identities(settings, case)}:
        raise NoticeError("refused: that address belongs to a reporter of this case")
    # A case read outside a session (a preview) still knows its sender code, the alias's code.
    code = _sender_alias(case).code if Session.object_session(case) is not None else case.sender_code
    if not code:
        raise NoticeError(f"case {case.number} has no sender alias yet; preview it inside a session")
    alias = alias_address(code, org.mailboxes[0])
    rendered = render(
        make_environment(template_dirs(settings, org)), NOTICE_TEMPLATES[template],
        organisation=org.name, recipient=recipient, incidents=incidents_for(case, recipient),
        reply_address=alias,
    )
    draft = Draft(from_address=alias, from_name=f"{org.name} stopit", to=[recipient],
                  subject=rendered.subject, body=rendered.body, reply_to=alias, automatic=False)
    guard(settings, case, draft, template=NOTICE_TEMPLATES[template])
    return PreparedMail(draft, template, recipient)


def send_notice(session: Session, settings: Settings, actor: Actor, case: Case,
                template: str = "please-stop", recipient: str | None = None) -> OutboxMessage:
    """Queue a notice through the outbox and record who approved it."""
    actor.check_case(case)
    prepared = prepare_notice(settings, case, template, recipient)
    key = f"notice:{case.id}:{template}:{prepared.recipient}"
    if session.query(OutboxMessage.id).filter(OutboxMessage.dedup_key == key).first():
        raise NoticeError(f"a {template} notice to {prepared.recipient} was already queued for {case.number}")
    row = enqueue(session, prepared.draft, "notice", key, case.id, envelope_from=prepared.draft.from_address,
                  actor=actor.name, alias_id=_sender_alias(case).id, template=template, recipient=prepared.recipient)
    case.status = CaseStatus.NOTICE_SENT
    events.record(session, "status-changed", case.id, actor=actor.name, automatic=False,
                  status=case.status.value, reason=f"{template} notice queued")
    return row
