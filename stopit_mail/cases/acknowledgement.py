"""What the reporter hears back: in their language, with help for the mail client they used.

The acknowledgement is the first thing a frightened reporter reads from us, so it is written
for them: in the language they wrote in when a template exists for it (English and Spanish
ship; an organisation adds one by adding `<lang>/reporter/...` templates to its folder), an
emergency's acknowledgement leads with the numbers to call and promises nothing about working
days, a first-hand report (nothing forwarded) is not asked for headers, and a forward without
headers gets the instructions for the client that wrote it, not a list of five.
"""

from __future__ import annotations

import re
from email.message import Message
from typing import TYPE_CHECKING

import jinja2

from stopit_mail.cases.detect.language import UNDETERMINED, identify
from stopit_mail.models import Completeness
from stopit_mail.outbound.render import Rendered, render

if TYPE_CHECKING:
    # Only a type here: staff commands import this module and need not load the parsers.
    from stopit_mail.extract.evidence import Extraction

DEFAULT_LANGUAGE = "en"
CLIENTS = ("gmail", "outlook", "apple", "thunderbird", "yahoo")
# Fewer characters than this say too little about a language; fall back to the default.
MIN_LANGUAGE_CHARS = 12
# What mail clients write into the messages they send (X-Mailer, User-Agent, Message-ID).
_CLIENT_MARKS = (
    ("outlook", re.compile(r"outlook|microsoft|exchange|\.prod\.outlook\.com|hotmail|live\.com", re.I)),
    ("gmail", re.compile(r"mail\.gmail\.com|google", re.I)),
    ("apple", re.compile(r"apple mail|iphone mail|ipad mail|icloud", re.I)),
    ("thunderbird", re.compile(r"thunderbird|icedove|betterbird", re.I)),
    ("yahoo", re.compile(r"yahoo|ymail", re.I)),
)


def report_language(text: str) -> str:
    """The ISO 639-1 code of the language `text` is written in ('en' when too short to tell)."""
    words = " ".join(text.split())[:2000]
    if len(words) < MIN_LANGUAGE_CHARS:
        return DEFAULT_LANGUAGE
    # The triage's identifier (one copy of py3langid's model per process, loaded on first use).
    language, _probability = identify(words)
    return DEFAULT_LANGUAGE if language == UNDETERMINED else language


def localised(env: jinja2.Environment, name: str, language: str) -> str:
    """`<language>/<name>` when such a template exists (built-in or the organisation's), else `name`."""
    if language and language != DEFAULT_LANGUAGE:
        candidate = f"{language}/{name}"
        try:
            env.get_template(candidate)
            return candidate
        except jinja2.TemplateNotFound:
            pass
    return name


def forwarding_client(message: Message | None, hints: list[str]) -> str | None:
    """Which mail client the reporter used, from the forward's layout or the wrapper's headers."""
    for hint in hints:
        if hint in CLIENTS:
            return hint
    if message is None:
        return None
    marks = " ".join(str(message.get(name, "")) for name in ("X-Mailer", "User-Agent", "Message-ID"))
    for client, pattern in _CLIENT_MARKS:
        if pattern.search(marks):
            return client
    return None


def needs_full_headers(extraction: Extraction) -> bool:
    """True when an offending message came without its headers (so it cannot be traced).

    A first-hand report, with nothing forwarded, has nothing to trace: it is not asked.
    """
    levels = {item.completeness for item in extraction.items if item.is_message}
    return bool(levels) and not levels & {Completeness.FULL, Completeness.HEADERS}


def render_acknowledgement(env: jinja2.Environment, language: str, client: str | None, *, organisation: str,
                           case_number: str, reporter_code: str, case_address: str, emergency_numbers: list[str],
                           needs_headers: bool, urgency: str) -> Rendered:
    """The acknowledgement for one report, in `language` where a template exists."""
    help_name = f"reporter/headers-help/{client if client in CLIENTS else 'generic'}.txt.j2"
    return render(env, localised(env, "reporter/acknowledgement.txt.j2", language),
                  headers_help=localised(env, help_name, language), organisation=organisation,
                  case_number=case_number, reporter_code=reporter_code, case_address=case_address,
                  emergency_numbers=emergency_numbers, needs_headers=needs_headers, urgency=urgency)
