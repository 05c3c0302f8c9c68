"""Value checks beyond types: address formats, ranges, uniqueness, host:port syntax."""

from __future__ import annotations

import ipaddress
import re

from stopit_mail.config.schema import Settings

_ADDRESS_RE = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$|^[^@\s<>\"]+@localhost$")
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def is_address(text: object) -> bool:
    """A plain addr-spec such as stopit@example.edu."""
    return isinstance(text, str) and bool(_ADDRESS_RE.match(text))


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
    check_casework(settings, problems)
    if settings.headers.dns not in ("online", "offline"):
        problems.append(f"headers.dns: found {settings.headers.dns!r}, expected 'online' or 'offline'")




_ROLES = ("staff", "reveal", "admin")
_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


def _check_chain(key: str, steps: list, problems: list[str]) -> None:  # type: ignore[type-arg]
    for i, step in enumerate(steps):
        if step is None:
            continue
        if not step.addresses:
            problems.append(f"{key}[{i}].addresses: empty (expected at least one address to page)")
        for j, address in enumerate(step.addresses):
            if not is_address(address):
                problems.append(f"{key}[{i}].addresses[{j}]: found {address!r}, expected an email or SMS-gateway address")
        if isinstance(step.wait_minutes, int) and not 1 <= step.wait_minutes <= 1440:
            problems.append(f"{key}[{i}].wait_minutes: found {step.wait_minutes}, expected 1 to 1440")


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
    for i, member in enumerate(settings.staff):
        if member is None:
            continue
        for role in member.roles:
            if role not in _ROLES:
                problems.append(f"staff[{i}].roles: found {role!r}, expected one of {', '.join(_ROLES)}")
        for slug in member.organisations:
            if slug not in slugs:
                problems.append(f"staff[{i}].organisations: {slug!r} is not a configured organisation slug")
