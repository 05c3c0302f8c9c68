"""The `[web]` section: the web reporting door of `stopit serve` / `stopit web`.

Kept apart from schema.py so the mail settings stay readable; `check_web` holds the value
checks (addresses, limits that must fit inside a stored message, language codes).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from stopit_mail.config.fields import doc

if TYPE_CHECKING:
    from stopit_mail.config.schema import Settings

DEFAULT_ALLOWED_TYPES = [
    "image/jpeg", "image/png", "image/gif", "image/webp",
    "video/mp4", "video/quicktime", "video/webm", "video/3gpp",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text",
]
# Images whose metadata (EXIF, GPS, text chunks) Pillow can strip before storage.
STRIPPABLE_IMAGES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")


@dataclass
class WebSettings:
    """The web door: report form, receipt codes and check-back, for people without email."""

    enabled: bool = doc("Serve the web door from `stopit serve` (`stopit web` runs it alone).", True)
    listen: str = doc("host:port of the web door; keep it on loopback behind nginx or Caddy with TLS.",
                      "127.0.0.1:8080")
    public_url: str = doc("The address reporters use (https://report.example.edu), quoted in mail.", "")
    trusted_proxies: list[str] = doc(
        "CIDRs of reverse proxies whose X-Forwarded-For/-Proto are believed (for rate limits and https).",
        factory=lambda: ["127.0.0.1/32", "::1/128"])
    max_text_chars: int = doc("Longest free-text report or answer, in characters.", 20000)
    max_files: int = doc("Most files attached to one report or answer.", 10)
    max_file_bytes: int = doc("Largest single file, in bytes.", 25 * 1024 * 1024)
    max_report_bytes: int = doc("Largest total of files in one report or answer, in bytes.", 50 * 1024 * 1024)
    allowed_types: list[str] = doc("File types accepted, as sniffed from the content (not the name).",
                                   factory=lambda: list(DEFAULT_ALLOWED_TYPES))
    crisis_lines: list[str] = doc(
        "Crisis lines shown on every page next to the organisation's emergency numbers.",
        factory=lambda: ["988 Suicide & Crisis Lifeline (call or text 988)", "Crisis Text Line: text HOME to 741741"])
    languages: list[str] = doc("Languages offered (a translation file must exist for each); the first is the default.",
                               factory=lambda: ["en", "es"])
    reports_per_client_per_hour: int = doc("Reports one client may send per hour (counted in memory only).", 10)
    code_attempts_per_client_per_hour: int = doc("Receipt-code tries one client may make per hour.", 20)
    code_attempts_per_code_per_hour: int = doc("Wrong tries on one receipt code per hour before it is paused.", 10)
    session_minutes: int = doc("How long a check-back page stays open after the code was entered.", 30)
    secret_file: str = doc("File (relative to data_dir) holding the key that signs forms; created when missing.",
                           "web.key")


def file_budget(settings: Settings) -> int:
    """Bytes of files one web report may carry: `web.max_report_bytes`, capped so that the
    files, base64-encoded (4/3 larger), and the text still fit in `limits.max_message_bytes`."""
    room = settings.limits.max_message_bytes - 4 * settings.web.max_text_chars - 65536
    return max(0, min(settings.web.max_report_bytes, room * 3 // 4))


def check_web(settings: Settings, problems: list[str]) -> None:
    """Value checks for [web] and the organisations' web keys."""
    from stopit_mail.config.checks import split_host_port

    web = settings.web
    try:
        split_host_port(web.listen, 8080)
    except ValueError:
        problems.append(f"web.listen: found {web.listen!r}, expected host:port such as 127.0.0.1:8080")
    if web.public_url and not re.match(r"^https?://[^\s/]+(/\S*)?$", web.public_url):
        problems.append(f"web.public_url: found {web.public_url!r}, expected a URL such as https://report.example.edu")
    for i, cidr in enumerate(web.trusted_proxies):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append(f"web.trusted_proxies[{i}]: found {cidr!r}, expected a CIDR such as 127.0.0.1/32")
    for key in ("max_text_chars", "max_files", "max_file_bytes", "max_report_bytes", "reports_per_client_per_hour",
                "code_attempts_per_client_per_hour", "code_attempts_per_code_per_hour", "session_minutes"):
        if getattr(web, key) < 1:
            problems.append(f"web.{key}: found {getattr(web, key)}, expected at least 1")
    if web.max_file_bytes > web.max_report_bytes:
        problems.append(f"web.max_file_bytes: {web.max_file_bytes} is more than web.max_report_bytes "
                        f"({web.max_report_bytes})")
    for i, kind in enumerate(web.allowed_types):
        if not re.match(r"^[a-z]+/[a-z0-9.+-]+$", kind):
            problems.append(f"web.allowed_types[{i}]: found {kind!r}, expected a type such as image/png")
    if not web.languages:
        problems.append("web.languages: empty (expected at least one language code such as 'en')")
    for i, lang in enumerate(web.languages):
        if not _LANG_RE.match(lang):
            problems.append(f"web.languages[{i}]: found {lang!r}, expected a code such as 'en' or 'es'")
        elif not (resources.files("stopit_mail") / "web" / "locales" / f"{lang}.toml").is_file():
            problems.append(f"web.languages[{i}]: no translation file web/locales/{lang}.toml for {lang!r}")
    codes: set[str] = set()
    for i, org in enumerate(settings.organisations):
        if org is None or not org.web_access_code:
            continue
        code = org.web_access_code
        if not re.match(r"^[A-Za-z0-9-]{6,64}$", code):
            problems.append(f"organisations[{i}].web_access_code: found {code!r}, expected 6-64 letters, digits or '-'")
        elif code.lower() in codes:
            problems.append(f"organisations[{i}].web_access_code: {code!r} is used by another organisation")
        codes.add(code.lower())
