"""Seal an anonymous report before anything readable is stored.

The reporter's address and name are encrypted with the identity public key, together with
their other likely addresses: the recipients of the evidence they forwarded (a message to their
school address, forwarded from a personal one) and any address written in their own words. Every trace of them is then scrubbed from what
staff will read (wrapper text, subjects, the evidence's recipient lists, bodies, header blocks
and the stored header analysis, walked as data so non-ASCII addresses such as `zoë@` are found),
the evidence bytes are sealed at rest, and the envelope keeps no sender or peer address.
"""

from __future__ import annotations

from typing import Any

from stopit_mail.config import Settings
from stopit_mail.extract.evidence import Extraction
from stopit_mail.outbound.redact import Traces, delivery_addresses, signature_lines, written_addresses
from stopit_mail.sealing import Identity, seal, seal_bytes

REDACTED = "[reporter]"


def _scrub_data(value: Any, traces: Traces) -> Any:
    """Scrub every string inside JSON-like data (dict keys too)."""
    if isinstance(value, str):
        return traces.scrub(value)
    if isinstance(value, list):
        return [_scrub_data(v, traces) for v in value]
    if isinstance(value, dict):
        return {traces.scrub(str(k)): _scrub_data(v, traces) for k, v in value.items()}
    return value


def scrub_report(extraction: Extraction, reporter: Identity, ours: set[str]) -> list[tuple[str, str]]:
    """Scrub every trace of the reporter from the extraction in place; their other addresses."""
    senders = {(i.from_address or "").lower() for i in extraction.items if i.from_address}
    keep = {a.lower() for a in ours} | senders
    others: list[tuple[str, str]] = []
    for item in extraction.items:
        for name, address in item.to + item.cc:
            if address and address.lower() not in keep and address.lower() != reporter.address.lower() \
                    and (name, address) not in others:
                others.append((name, address))
        for address in delivery_addresses(item.header_block or ""):  # a message that reached them by Bcc
            if address not in keep and address != reporter.address.lower() \
                    and not any(address == other.lower() for _n, other in others):
                others.append(("", address))
    # An address the reporter wrote in their own words (a signature, "my home address is ...")
    # is theirs as likely as not: sealed with them, scrubbed from what staff read (safe side).
    for address in written_addresses(extraction.wrapper_text):
        if address.lower() not in keep and address.lower() != reporter.address.lower() \
                and not any(address.lower() == other.lower() for _n, other in others):
            others.append(("", address))
    traces = Traces()
    traces.add_address(reporter.address)
    traces.add_name(reporter.name)
    for name, address in others:
        traces.add_address(address)
        traces.add_name(name)
    for line in signature_lines(extraction.wrapper_text):  # their phone, class, room: who they are
        traces.add_phrase(line)
    extraction.reporter_address = ""
    extraction.reporter_name = ""
    extraction.wrapper_text = traces.scrub(extraction.wrapper_text)
    extraction.subject = traces.scrub(extraction.subject)
    for item in extraction.items:
        item.to = [[REDACTED, ""] if addr.lower() not in keep else [name, addr] for name, addr in item.to]
        item.cc = [[REDACTED, ""] if addr.lower() not in keep else [name, addr] for name, addr in item.cc]
        item.subject = traces.scrub(item.subject) if item.subject else item.subject
        item.body_text = traces.scrub(item.body_text) if item.body_text else item.body_text
        item.header_block = traces.scrub(item.header_block) if item.header_block else item.header_block
        item.filename = traces.scrub(item.filename) if item.filename else item.filename
        if item.analysis is not None:
            item.analysis = _scrub_data(item.analysis, traces)
    return others


def seal_report(settings: Settings, extraction: Extraction, reporter: Identity, ours: set[str]) -> str:
    """Scrub the extraction, seal the evidence bytes, and return the sealed identity (with the
    other addresses). Raises IdentityKeyError, before sealing anything, when no key is usable."""
    sealed = seal(settings, Identity(reporter.address, reporter.name, ()))  # fails early without a key
    others = scrub_report(extraction, reporter, ours)
    for item in extraction.items:
        if item.content is not None:
            item.content = seal_bytes(settings, item.content)
    return seal(settings, Identity(reporter.address, reporter.name, tuple(others))) if others else sealed
