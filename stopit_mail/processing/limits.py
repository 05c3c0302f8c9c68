"""Input limits applied before parsing: a message that breaks them is never handed to a parser.

A header folded into a million lines, or a 100 MiB report, costs the parser minutes or
gigabytes; counting bytes and lines costs microseconds. The reason is precise, so a person can
decide what to do with the message (`stopit quarantine show`).
"""

from __future__ import annotations

from stopit_mail.config import Limits


def header_end(content: bytes, limit: int) -> int:
    """Offset of the blank line ending the header section, or -1 if none within `limit` bytes."""
    ends = [i for i in (content.find(b"\r\n\r\n", 0, limit + 4), content.find(b"\n\n", 0, limit + 2)) if i >= 0]
    if content.startswith((b"\r\n", b"\n")):
        return 0
    return min(ends) if ends else -1


def over_limits(content: bytes, limits: Limits) -> str | None:
    """Why `content` must not be parsed, or None when it is within every limit."""
    size = len(content)
    if size > limits.max_message_bytes:
        return f"message is {size} bytes, above limits.max_message_bytes ({limits.max_message_bytes})"
    end = header_end(content, limits.max_header_bytes)
    if end < 0 and size > limits.max_header_bytes:
        return (f"header section is longer than limits.max_header_bytes ({limits.max_header_bytes}): "
                "no end of headers found within it")
    lines = content.count(b"\n")
    if lines > limits.max_lines:
        return f"message has {lines} lines, above limits.max_lines ({limits.max_lines})"
    return None
