"""The words of a page: what the on-call person needs to act, and nothing about the reporter.

A page leaves our hands (phones, SMS gateways, sometimes a police desk), so it carries the
case number, why triage flagged it (rule names, never the matched words), and where, when and
who is at risk as far as the report says (`escalation_facts`), but never the reporter's name,
address or sentences. Staff read the report itself in `stopit cases show`.

Addresses of email-to-SMS gateways get their own, short page (at most 160 characters with the
code first, so truncation never cuts the acknowledgement code). Rendering never depends on
the identity key: the facts come from stored, already redacted text, or for a message that
could not be opened, from the page facts recorded at its 250.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail.cases.codes import case_alias, format_code
from stopit_mail.cases.escalation_clock import PagePosition, local_text, wait_of
from stopit_mail.cases.escalation_facts import Facts, extract_facts, reporter_tokens
from stopit_mail.cases.page_facts import as_facts
from stopit_mail.config import Organisation, Settings
from stopit_mail.models import Case, Escalation, Evidence, Report
from stopit_mail.outbound.compose import Draft
from stopit_mail.outbound.render import Rendered, TemplateError, make_environment, render

log = logging.getLogger(__name__)

PAGE_TEMPLATE = "staff/emergency-page.txt.j2"
SMS_TEMPLATE = "staff/emergency-page.sms.txt.j2"
SMS_LIMIT = 160
ACK_PREFIX = "ack-"
PAGE_HEADERS = {
    # RFC 3834: generated, not a reply; so out-of-office robots stay quiet and our own
    # mailbox sets a looped-back page aside instead of filing it.
    "Auto-Submitted": "auto-generated",
    "X-Auto-Response-Suppress": "All",
    "Importance": "high",
    "X-Priority": "1 (Highest)",
}
_PHONE_LOCAL = re.compile(r"^\+?\d{7,15}$")


@dataclass(frozen=True)
class PageDraft:
    """One message of a page: `suffix` keeps the email and SMS rows apart in the outbox."""

    suffix: str
    draft: Draft


def ack_address(organisation: Organisation, code: str) -> str:
    """The reply address of a page, `stopit+ack-<code>@domain`: a reply there acknowledges."""
    return case_alias(f"{ACK_PREFIX}{code}", organisation.mailboxes[0])


def is_sms(address: str, org: Organisation) -> bool:
    """An email-to-SMS gateway address: a configured gateway domain, or a phone-number local part."""
    local, _, domain = address.lower().rpartition("@")
    gateways = {d.lower() for d in org.escalation.sms_gateway_domains}
    return domain in gateways or bool(_PHONE_LOCAL.match(local))


def reasons(case: Case) -> list[str]:
    """Which triage rules fired, without quoting the report (pages leave our hands)."""
    triage = case.triage or {}
    matches = triage.get("matches") or (triage.get("automatic") or {}).get("matches") or []
    seen: list[str] = []
    for match in matches:
        if not isinstance(match, dict):
            continue
        where = " in subject" if match.get("field") == "subject" else ""
        line = f'rule "{match.get("rule", "?")}" ({match.get("category", "?")}, {match.get("urgency", "?")}){where}'
        if line not in seen:
            seen.append(line)
    return seen


def case_facts(session: Session, case: Case) -> Facts:
    """Where, when and who is at risk from the case's reports (wrapper first, then evidence)."""
    reports = session.execute(select(Report.wrapper_text, Report.reporter_address, Report.reporter_name)
                              .where(Report.case_id == case.id).order_by(Report.id)).all()
    banned: set[str] = set()
    for _text, address, name in reports:
        banned |= reporter_tokens(address, name)
    bodies = session.scalars(select(Evidence.body_text).where(Evidence.case_id == case.id).order_by(Evidence.id)
                             .limit(5)).all()
    found = extract_facts([text for text, _a, _n in reports] + [b or "" for b in bodies], banned)
    # A case opened for a message that could not be opened (a lost key, a poison message) has no
    # report to read: its page says what the intake recorded (`page_facts`, stored scrubbed).
    stored = (case.triage or {}).get("facts")
    return as_facts(stored) if found.empty() and isinstance(stored, dict) else found


def _variables(session: Session, org: Organisation, case: Case, esc: Escalation, number: int,
               now: datetime) -> dict[str, Any]:
    steps = esc.steps
    facts = case_facts(session, case)
    variables: dict[str, Any] = {
        "kind": esc.kind, "organisation": org.name, "case_number": case.number, "urgency": case.urgency,
        "categories": list(case.categories or []), "reasons": reasons(case),
        "ack_code": format_code(esc.ack_code), "ack_address": ack_address(org, esc.ack_code),
        "started_at": local_text(esc.started_at, org.escalation), "paged_at": local_text(now, org.escalation),
        "reported_at": local_text(case.opened_at, org.escalation),
        "impossible": not steps, "chain": esc.chain, "timezone": org.escalation.timezone,
        "where": facts.where, "when": facts.when, "who": facts.who,
        "confirm_minutes": org.escalation.confirm_minutes,
    }
    if steps:
        here, after = PagePosition(number, len(steps)), PagePosition(number + 1, len(steps))
        variables.update(
            contact=steps[here.index]["contact"], position=here.index + 1, steps_total=len(steps),
            round=here.round, next_contact=steps[after.index]["contact"], next_starts_round=after.starts_round,
            next_wait=int(wait_of(steps, number).total_seconds() // 60),
        )
    return variables


def _render(settings: Settings, org: Organisation, name: str, variables: dict[str, Any]) -> Rendered:
    """Render with the organisation's override, falling back to the built-in template.

    An organisation's broken override must not silence an emergency: the error is logged and
    the built-in template used instead.
    """
    import jinja2  # noqa: PLC0415 - only when rendering (listing escalations needs no Jinja)

    overrides = [settings.base_dir / Path(org.templates_dir)] if org.templates_dir else []
    try:
        return render(make_environment(overrides), name, **variables)
    except (TemplateError, jinja2.TemplateError) as exc:
        if not overrides:
            raise
        log.error("organisation %s: template override %s failed (%s); using the built-in one", org.slug, name, exc)
        return render(make_environment(), name, **variables)


def short(rendered: Rendered) -> Rendered:
    """An SMS: subject and one-line body together within 160 characters."""
    subject = rendered.subject[:60]
    body = " ".join(rendered.body.split())
    room = SMS_LIMIT - len(subject) - 1
    if len(body) > room:
        body = body[:room - 1].rstrip() + "…"
    return Rendered(subject, body)


def page_drafts(session: Session, settings: Settings, org: Organisation, case: Case, esc: Escalation,
                number: int, addresses: list[str], now: datetime) -> list[PageDraft]:
    """The email page and, for SMS-gateway addresses, the short page (each only if needed)."""
    variables = _variables(session, org, case, esc, number, now)
    alias = ack_address(org, esc.ack_code)
    sms = [a for a in addresses if is_sms(a, org)]
    mail = [a for a in addresses if a not in sms]
    drafts = []
    for suffix, to in (("", mail), (":sms", sms)):
        if not to:
            continue
        rendered = (short(_render(settings, org, SMS_TEMPLATE, variables)) if suffix
                    else _render(settings, org, PAGE_TEMPLATE, variables))
        drafts.append(PageDraft(suffix, Draft(
            from_address=alias, from_name=f"{org.name} stopit", to=to, subject=rendered.subject, body=rendered.body,
            reply_to=alias, automatic=False, extra_headers=dict(PAGE_HEADERS))))
    return drafts
