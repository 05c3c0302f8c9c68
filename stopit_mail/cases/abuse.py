"""Abuse reports to the provider the offending message came from (ARF or X-ARF).

The traced origin of a piece of evidence names a provider and an address; the provider's
abuse desk (``headers.abuse_desks`` in the configuration, the shipped provider data, or
``--to``) gets an RFC 5965 report with the
offending message's header section. The reporter is protected twice: every reporter
identifier (address, name, code, their own words) is replaced by "[redacted]" in what is sent,
and the rendered report then goes through the notices' leak guard, which refuses to queue
anything that still names them. Reports come from the case's sender alias, so the desk's
replies thread back into the case, and each report is logged on the case.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from stopit_mail.cases.codes import case_alias
from stopit_mail.cases.notices import NoticeError, guard, organisation_of, reporter_needles, template_dirs
from stopit_mail.cases.reporter_traces import reporter_traces
from stopit_mail.cases.staff import Actor
from stopit_mail.config import Settings
from stopit_mail.extract.mime import decode_header_value
from stopit_mail.headers.fields import read_header_fields
from stopit_mail.headers.ipclass import parse_ip
from stopit_mail.headers.providers import shipped_catalog
from stopit_mail.models import Case, Completeness, Evidence, OutboxMessage
from stopit_mail.outbound.arf import FORMATS, Feedback
from stopit_mail.outbound.compose import Attachment, Draft, compose
from stopit_mail.outbound.outbox import enqueue
from stopit_mail.outbound.render import make_environment, render

REDACTED = "[redacted]"


class AbuseReportError(NoticeError):
    """An abuse report cannot be prepared: no traced evidence, no desk, or a leak refused."""


@dataclass
class PreparedAbuseReport:
    """A rendered abuse report, ready for preview or queuing."""

    draft: Draft
    recipient: str
    evidence_id: int
    origin: dict[str, Any]

    def preview(self) -> str:
        return compose(self.draft, "<preview@stopit>").decode("utf-8", "replace")


def _traced(case: Case) -> tuple[Evidence, dict[str, Any]]:
    """The first evidence with headers whose trace names an origin address."""
    for item in case.evidence:
        if item.completeness not in (Completeness.FULL, Completeness.HEADERS) or not item.analysis:
            continue
        origin = (item.analysis.get("trace") or {}).get("origin") or {}
        if origin.get("ip"):
            return item, origin
    raise AbuseReportError(f"case {case.number} has no evidence with headers traced to an address")


def _configured_desk(entries: list[str], origin: dict[str, Any], provider_key: str | None) -> str | None:
    """The first configured desk whose key names the provider, holds the address or the host."""
    address = parse_ip(origin.get("ip"))
    host = (origin.get("host") or "").lower().rstrip(".")
    for entry in entries:
        key, _equals, desk = (part.strip() for part in entry.partition("="))
        key = key.lower()
        try:
            network = ipaddress.ip_network(key, strict=False)
        except ValueError:
            network = None
        if key == provider_key or (network is not None and address is not None
                                   and address.version == network.version and address in network) \
                or (key.startswith(".") and host and (host == key[1:] or host.endswith(key))):
            return desk
    return None


def _desk(settings: Settings, origin: dict[str, Any]) -> str | None:
    """The abuse desk for the origin: configured first, then the sending provider's from the
    shipped data, then the provider whose published ranges hold the origin's address."""
    catalog = shipped_catalog()
    sending = next((p for p in catalog.providers if p.name == origin.get("sending_provider")), None)
    owner = sending or catalog.owner_of_ip(origin.get("ip"))
    configured = _configured_desk(settings.headers.abuse_desks, origin, owner.key if owner else None)
    return configured or (owner.abuse if owner is not None else None)


def _header_section(item: Evidence) -> str:
    """The evidence's header section, one field a line, encoded words decoded (so that a
    reporter's name written as =?utf-8?...?= is found and redacted)."""
    if item.completeness is Completeness.FULL and item.content:
        fields = read_header_fields(item.content)
    else:
        fields = read_header_fields((item.header_block or "").encode("utf-8", "replace"))
    return "".join(f"{name}: {decode_header_value(value)}\r\n" for name, value in fields)


def _redact(text: str, needles: list[str]) -> tuple[str, bool]:
    found = False
    for needle in sorted({n for n in needles if n.strip()}, key=len, reverse=True):
        pattern = re.compile(r"\s+".join(re.escape(part) for part in needle.split()), re.I)
        text, count = pattern.subn(REDACTED, text)
        found = found or count > 0
    return text, found


def prepare_abuse_report(settings: Settings, case: Case, recipient: str | None = None,
                         fmt: str = "arf") -> PreparedAbuseReport:
    """Render the abuse report for the case's traced evidence; refuses on any leak."""
    if fmt not in FORMATS:
        raise AbuseReportError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    item, origin = _traced(case)
    desk = (recipient or _desk(settings, origin) or "").strip().lower()
    if not desk:
        raise AbuseReportError(f"no abuse desk is known for {origin.get('ip')}; give --to")
    if settings.organisation_for(desk) is not None:
        raise AbuseReportError(f"refused: {desk} is one of our own addresses")
    org = organisation_of(settings, case)
    alias = case_alias(case.sender_code or case.reporter_code, org.mailboxes[0])
    headers, redacted = _redact(_header_section(item), reporter_needles(settings, case))
    # Every trace the leak guard knows, too: a mailbox that only the delivery headers name (Bcc).
    scrubbed = reporter_traces(settings, case, keep={desk}).scrub(headers)
    headers, redacted = scrubbed, redacted or scrubbed != headers
    sender = item.orig_from_address or ""
    rendered = render(
        make_environment(template_dirs(settings, org)), "provider/abuse-report.txt.j2",
        organisation=org.name, provider=origin.get("sending_provider") or "", source_ip=origin["ip"],
        account=origin.get("account") or "", sender=_redact(sender, reporter_needles(settings, case))[0],
        date=item.orig_date or "", headers_only=True, redacted=redacted, reply_address=alias)
    fields = [("Source-IP", str(origin["ip"])), ("Incidents", "1")]
    if sender and "@" in sender and REDACTED not in sender:
        fields += [("Original-Mail-From", f"<{sender}>"), ("Reported-Domain", sender.rpartition("@")[2])]
    if item.orig_date:
        fields.append(("Arrival-Date", " ".join(item.orig_date.split())))
    feedback = Feedback(fmt, headers.encode("utf-8"), True, fields, report_id=case.number)
    draft = Draft(from_address=alias, from_name=f"{org.name} stopit", to=[desk], subject=rendered.subject,
                  body=rendered.body, reply_to=alias, automatic=False, feedback=feedback)
    # The leak guard reads attachments: show it the evidence exactly as it will be sent.
    guard(settings, case, replace(draft, attachments=[Attachment("evidence.txt", "text/plain", feedback.evidence)]),
          template="provider/abuse-report.txt.j2")
    return PreparedAbuseReport(draft, desk, item.id, origin)


def send_abuse_report(session: Session, settings: Settings, actor: Actor, case: Case,
                      recipient: str | None = None, fmt: str = "arf") -> OutboxMessage:
    """Queue the abuse report through the outbox; the queued event logs it on the case."""
    actor.check_case(case)
    prepared = prepare_abuse_report(settings, case, recipient, fmt)
    key = f"abuse-report:{case.id}:{prepared.evidence_id}:{prepared.recipient}:{fmt}"
    return enqueue(session, prepared.draft, "abuse-report", key, case.id,
                   envelope_from=prepared.draft.from_address, actor=actor.name, recipient=prepared.recipient,
                   format=fmt, source_ip=prepared.origin.get("ip"), evidence_id=prepared.evidence_id)
