"""Value checks beyond types: address formats, ranges, uniqueness, host:port syntax."""

from __future__ import annotations

import dataclasses
import ipaddress
import re

from stopit_mail.config.api import check_api
from stopit_mail.config.casework import EscalationSettings, parse_read_deadline
from stopit_mail.config.policy import ROLES, check_policy
from stopit_mail.config.schema import Settings
from stopit_mail.config.web import check_web

# Printable ASCII local part without specials (RFC 5321 dot-atom), then a host name.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
_ADDRESS_RE = re.compile(rf"^{_LOCAL}@(?:{_DOMAIN}|localhost)$")
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def is_address(text: object) -> bool:
    """A plain addr-spec such as stopit@example.edu."""
    return isinstance(text, str) and len(text) <= 254 and _ADDRESS_RE.fullmatch(text) is not None


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    """'host:port', '[::1]:25' or 'host' to (host, port); ValueError when malformed."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    port = int(port_text) if port_text else default_port
    if not host or not 0 < port < 65536:
        raise ValueError(text)
    return host, port


def _check_server(settings: Settings, problems: list[str]) -> None:
    server, outbound = settings.server, settings.outbound
    try:
        split_host_port(server.listen, 8025)
    except ValueError:
        problems.append(f"server.listen: found {server.listen!r}, expected host:port such as 127.0.0.1:8025")
    if server.protocol not in ("smtp", "lmtp"):
        problems.append(f"server.protocol: found {server.protocol!r}, expected 'smtp' or 'lmtp'")
    for i, cidr in enumerate(server.unlimited_peers):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append(f"server.unlimited_peers[{i}]: found {cidr!r}, expected a CIDR such as 127.0.0.1/32")
    if bool(server.tls_certificate) != bool(server.tls_key):
        problems.append("server.tls_certificate / server.tls_key: set both or neither")
    if outbound.relay:
        try:
            split_host_port(outbound.relay, 25)
        except ValueError:
            problems.append(f"outbound.relay: found {outbound.relay!r}, expected host:port such as smtp.example.edu:587")
    for key in ("max_connections_per_peer", "max_messages_per_peer_per_minute"):
        if getattr(server, key) < 1:
            problems.append(f"server.{key}: found {getattr(server, key)}, expected at least 1")
    for key in ("worker_nice", "flood_nice"):
        if not 0 <= getattr(server, key) <= 19:
            problems.append(f"server.{key}: found {getattr(server, key)}, expected 0 to 19")
    if outbound.max_attempts < 1:
        problems.append(f"outbound.max_attempts: found {outbound.max_attempts}, expected at least 1")
    _check_limits(settings, problems)


def _check_limits(settings: Settings, problems: list[str]) -> None:
    limits = settings.limits
    for key in ("max_message_bytes", "max_nesting_depth", "max_parts", "max_header_bytes", "max_lines",
                "max_attempts", "worker_memory_mb"):
        if getattr(limits, key) < 1:
            problems.append(f"limits.{key}: found {getattr(limits, key)}, expected at least 1")
    if not 1 <= limits.processing_seconds <= 3600:
        problems.append(f"limits.processing_seconds: found {limits.processing_seconds}, expected 1 to 3600")


def check_values(settings: Settings, problems: list[str]) -> None:
    """Checks that go beyond types: formats, ranges, uniqueness."""
    if not settings.organisations:
        problems.append("organisations: none configured (expected at least one [[organisations]] table)")
    seen: set[str] = set()
    for i, org in enumerate(settings.organisations):
        key = f"organisations[{i}]"
        if org is None:
            continue
        if not _SLUG_RE.match(org.slug or ""):
            problems.append(f"{key}.slug: found {org.slug!r}, expected lower-case letters, digits, '-'")
        if not org.mailboxes:
            problems.append(f"{key}.mailboxes: empty (expected at least one address)")
        for j, box in enumerate(org.mailboxes):
            if not isinstance(box, str) or not is_address(box) or "+" in box:
                problems.append(f"{key}.mailboxes[{j}]: found {box!r}, expected an address such as stopit@example.edu (no '+')")
            elif box.lower() in seen:
                problems.append(f"{key}.mailboxes[{j}]: {box!r} is already owned by another organisation")
            else:
                seen.add(box.lower())
        if not re.match(r"^[A-Z]{1,6}$", org.case_prefix or ""):
            problems.append(f"{key}.case_prefix: found {org.case_prefix!r}, expected 1-6 capital letters")
    limits = settings.limits
    if isinstance(limits.max_message_bytes, int) and limits.max_message_bytes < 1024:
        problems.append(f"limits.max_message_bytes: found {limits.max_message_bytes}, expected at least 1024")
    if isinstance(limits.max_nesting_depth, int) and not 1 <= limits.max_nesting_depth <= 100:
        problems.append(f"limits.max_nesting_depth: found {limits.max_nesting_depth}, expected 1 to 100")
    _check_server(settings, problems)
    check_web(settings, problems)
    check_casework(settings, problems)
    check_policy(settings, problems)
    check_api(settings, problems)
    if settings.headers.dns not in ("online", "offline"):
        problems.append(f"headers.dns: found {settings.headers.dns!r}, expected 'online' or 'offline'")
    for i, entry in enumerate(settings.headers.abuse_desks):
        key, equals, address = str(entry).partition("=")
        if not equals or not key.strip() or not is_address(address.strip()):
            problems.append(f"headers.abuse_desks[{i}]: found {entry!r}, expected 'KEY=abuse@example.net'")




_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


def _check_chain(key: str, steps: list, problems: list[str]) -> None:  # type: ignore[type-arg]
    """Chain steps or reviewers: each pages at least one valid address (and waits 1 to 1440 min)."""
    for i, step in enumerate(steps):
        if step is None:
            continue
        if not step.addresses:
            problems.append(f"{key}[{i}].addresses: empty (expected at least one address to page)")
        for j, address in enumerate(step.addresses):
            if not is_address(address):
                problems.append(f"{key}[{i}].addresses[{j}]: found {address!r}, expected an email or SMS-gateway address")
        wait = getattr(step, "wait_minutes", 1)
        if isinstance(wait, int) and not 1 <= wait <= 1440:
            problems.append(f"{key}[{i}].wait_minutes: found {wait}, expected 1 to 1440")


def _check_review(key: str, esc: EscalationSettings, problems: list[str]) -> None:
    """Reviewers, the confirm window, read deadlines and SMS gateway domains."""
    _check_chain(f"{key}.reviewers", esc.reviewers, problems)
    if isinstance(esc.confirm_minutes, int) and not 1 <= esc.confirm_minutes <= 120:
        problems.append(f"{key}.confirm_minutes: found {esc.confirm_minutes}, expected 1 to 120")
    deadlines = esc.read_deadlines
    for fld in dataclasses.fields(deadlines) if deadlines is not None else ():
        value = getattr(deadlines, fld.name)
        if not isinstance(value, str) or (not value and fld.name.endswith("_after_hours")):
            continue
        try:
            parse_read_deadline(value)
        except ValueError:
            problems.append(f"{key}.read_deadlines.{fld.name}: found {value!r}, expected e.g. '10m', '2h', "
                            f"'next-business-morning' or 'next-business-morning+1h'")
    for i, domain in enumerate(esc.sms_gateway_domains):
        if not is_address(f"x@{domain}"):
            problems.append(f"{key}.sms_gateway_domains[{i}]: found {domain!r}, expected a domain such as txt.example.net")


def check_casework(settings: Settings, problems: list[str]) -> None:
    """Offices, escalation chains and staff: addresses, hours, timezones, roles, references."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    slugs = {org.slug for org in settings.organisations if org is not None}
    for i, org in enumerate(settings.organisations):
        if org is None:
            continue
        key = f"organisations[{i}]"
        names = [office.name for office in org.offices if office is not None]
        for j, office in enumerate(org.offices):
            if office is None:
                continue
            if not _SLUG_RE.match(office.name or ""):
                problems.append(f"{key}.offices[{j}].name: found {office.name!r}, expected lower-case letters, digits, '-'")
            elif names.count(office.name) > 1:
                problems.append(f"{key}.offices[{j}].name: {office.name!r} is used twice")
            for k, address in enumerate(office.addresses):
                if not is_address(address):
                    problems.append(f"{key}.offices[{j}].addresses[{k}]: found {address!r}, expected an address")
        esc = org.escalation
        try:
            ZoneInfo(esc.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"{key}.escalation.timezone: found {esc.timezone!r}, expected an IANA name such as 'Europe/Paris'")
        if not _HOURS.match(esc.business_hours or ""):
            problems.append(f"{key}.escalation.business_hours: found {esc.business_hours!r}, expected HH:MM-HH:MM")
        if any(not isinstance(d, int) or not 1 <= d <= 7 for d in esc.business_days):
            problems.append(f"{key}.escalation.business_days: found {esc.business_days!r}, expected numbers 1 (Monday) to 7")
        _check_chain(f"{key}.escalation.business_chain", esc.business_chain, problems)
        _check_chain(f"{key}.escalation.after_hours_chain", esc.after_hours_chain, problems)
        _check_review(f"{key}.escalation", esc, problems)
    outcomes = settings.casework.outcomes
    if not outcomes:
        problems.append("casework.outcomes: found an empty list, expected at least one outcome code")
    for i, outcome in enumerate(outcomes):
        if not isinstance(outcome, str) or not _SLUG_RE.match(outcome):
            problems.append(f"casework.outcomes[{i}]: found {outcome!r}, expected lower-case letters, digits, '-'")
        elif outcomes.count(outcome) > 1:
            problems.append(f"casework.outcomes[{i}]: {outcome!r} is listed twice")
    for i, member in enumerate(settings.staff):
        if member is None:
            continue
        for role in member.roles:
            if role not in ROLES:
                problems.append(f"staff[{i}].roles: found {role!r}, expected one of {', '.join(ROLES)}")
        for slug in member.organisations:
            if slug not in slugs:
                problems.append(f"staff[{i}].organisations: {slug!r} is not a configured organisation slug")
