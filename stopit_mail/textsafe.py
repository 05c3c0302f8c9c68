"""Make untrusted text safe to show a person or to put in a header.

Message text is written by whoever sent it, including the harasser. Before it reaches a
staff member's terminal, escape sequences, other control characters and bidirectional
overrides (which can make text read differently from what it is) are neutralised. Header
values built from data must not carry CR or LF (header injection).
"""

from __future__ import annotations

import re

from stopit_mail.errors import HeaderInjection

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str | None) -> str:
    """Text with control characters and bidi overrides shown as visible escapes."""
    if not text:
        return ""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", text)


def json_escaped(text: str) -> str:
    """JSON text with every control character and bidi override written as a \\u escape: the same
    data to a parser, but nothing a report wrote can drive the terminal it is printed to."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def checked_header(value: str) -> str:
    """Return `value` unchanged, or raise HeaderInjection if it could start a new header line."""
    if "\r" in value or "\n" in value:
        raise HeaderInjection(f"header value contains a line break: {value[:60]!r}")
    return value


def markup_safe(text: str | None) -> str:
    """`terminal_safe` text with rich markup escaped, for tables and panels."""
    from rich.markup import escape

    return escape(terminal_safe(text))
