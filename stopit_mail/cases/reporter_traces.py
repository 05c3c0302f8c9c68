"""Everything that identifies a case's reporters, gathered for redaction and the leak guard.

Besides each reporter's address and name (unsealed in memory for anonymous ones), it collects
their other likely addresses: the recipients of the evidence they forwarded (a message sent to
their school address, forwarded from a personal one), with those recipients' display names,
and the mailboxes its delivery headers name (a message that reached them by Bcc),
the reporters' own alias codes, the lines of their signature block (always) and the lines of
their own words. The alleged senders, our own
mailboxes and the offices being written to are never traces (they are the addressees).
"""

from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from stopit_mail.cases.aliases import ALLEGED_SENDER, REPORTER
from stopit_mail.cases.codes import format_code
from stopit_mail.config import Settings
from stopit_mail.models import Case, CaseAlias, Evidence
from stopit_mail.outbound.redact import Traces, delivery_addresses, signature_lines
from stopit_mail.outbound.redact.traces import fold
from stopit_mail.sealing import unseal


def _header_block(item: Evidence) -> str:
    """The evidence's header block; "" when it was never loaded and the case is detached (a
    preview built outside a session: nothing it renders carries the evidence's headers)."""
    if "header_block" in inspect(item).unloaded and Session.object_session(item) is None:
        return ""
    return item.header_block or ""


def reporter_traces(settings: Settings, case: Case, keep: set[str] | None = None, words: bool = True) -> Traces:
    """Traces of every reporter of `case`; addresses in `keep` (the addressees) are left out.

    `words=False` leaves out the lines of the reporters' own text: an office may read what a
    reporter wrote (who they are stays hidden); only mail to the alleged sender must not.
    """
    traces = Traces()
    senders = {p.address.lower() for p in case.parties if p.role == "alleged-sender" and p.address}
    ours = {m.lower() for org in settings.organisations for m in org.mailboxes}
    ours |= {a.lower() for org in settings.organisations for office in org.offices for a in office.addresses}
    excluded = senders | ours | {k.lower() for k in (keep or set())}
    our_names = [org.name for org in settings.organisations] + [
        office.title for org in settings.organisations for office in org.offices]
    reporter_reports = [r for r in case.reports if r.sender_role != ALLEGED_SENDER]
    for report in reporter_reports:
        if report.sealed_identity:
            identity = unseal(settings, report.sealed_identity)
            address, name = identity.address, identity.name
            for other_name, other_address in identity.others:  # their other addresses, sealed at intake
                if other_address.lower() not in excluded:
                    traces.add_address(other_address)
                    traces.add_name(other_name)
        else:
            address, name = report.reporter_address or "", report.reporter_name or ""
        if address.lower() not in excluded:
            traces.add_address(address)
            traces.add_name(name)
        for line in signature_lines(report.wrapper_text or ""):  # who they are, not their words
            if not any(fold(line) in fold(title) for title in our_names):  # "Example University" signs us too
                traces.add_phrase(line)
        for line in (report.wrapper_text or "").splitlines() if words else ():
            if len(line.strip()) >= 16:
                traces.add_phrase(line.strip())
    reporter_ids = {r.id for r in reporter_reports}
    for item in case.evidence:
        if item.report_id not in reporter_ids:
            continue
        for pair in list(item.orig_to or []) + list(item.orig_cc or []):
            name, address = (pair + ["", ""])[:2] if isinstance(pair, list) else ("", "")
            if address and address.lower() not in excluded:
                traces.add_address(address)
                traces.add_name(name if name != "[reporter]" else "")
        for address in delivery_addresses(_header_block(item)):  # reached them by Bcc
            if address not in excluded:
                traces.add_address(address)
    session = Session.object_session(case)
    if session is not None:
        for code in session.scalars(select(CaseAlias.code).where(
                CaseAlias.case_id == case.id, CaseAlias.side == REPORTER)):
            traces.add_phrase(code)
            traces.add_phrase(format_code(code))
    traces.add_phrase(case.reporter_code)
    traces.add_phrase(format_code(case.reporter_code))
    return traces
