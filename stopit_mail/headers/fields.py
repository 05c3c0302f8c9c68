"""Split a header section into fields in linear time, however hostile the folding.

Every reader of headers (the trace, Authentication-Results, DKIM and ARC through dkimpy)
used to grow a field's value by appending each continuation line to a string, which copies
the value each time: one field folded into 1.3 million lines took almost eight minutes.
Here continuation lines are collected in a list and joined once, so reading is linear in
the size of the header section.

:func:`dkimpy_parse` gives dkimpy's ``rfc822_parse`` result (same values, same errors) the
same way; the verifier subclasses use it instead of dkimpy's own loop.
"""

from __future__ import annotations

import re

from dkim import MessageFormatError

#: Only the first 8 MiB of a message are read for its header fields, and a longer header
#: section is not verified: no real one is that long, and the cap bounds the work on
#: hostile input (a 50 MB header is refused in well under a second).
MAX_HEADER_BYTES = 8 * 1024 * 1024
#: Most header sections end within this many bytes; they are looked for there first so that
#: a large body is not copied only to be ignored.
_FIRST_LOOK = 65_536
# A field's first line, the spaces after its colon consumed; lines are "\n"-separated here.
_FIELD_START = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:[ \t]*", re.M)
_BLANK_LINE = re.compile(rb"\n[ \t\x0b\x0c]*\n")
_BLANK_LINE_OR_END = re.compile(rb"\n[ \t\x0b\x0c]*(?:\n|\Z)")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_value(value: bytes) -> str:
    """A value read as UTF-8 where valid and Latin-1 otherwise, a line at a time.

    A line end never splits a UTF-8 sequence, so when the whole value is valid UTF-8 one
    decode does for all of its lines."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "\n".join(_decode(line) for line in value.split(b"\n"))


def _normalised(data: bytes) -> bytes:
    """Every line end (CRLF, LF, CR) made one LF, then NULs dropped, all in C."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\x00", b"")


def _section(data: bytes) -> bytes | None:
    """From the first field line to the first blank line after it (normalised)."""
    for limit in (_FIRST_LOOK, MAX_HEADER_BYTES):
        # In a cut copy, the end of the copy is not the end of a line.
        blank = _BLANK_LINE if len(data) > limit else _BLANK_LINE_OR_END
        text = _normalised(data[:limit])
        first = _FIELD_START.search(text)
        end = blank.search(text, first.start()) if first else None
        if end is not None or len(data) <= limit:
            if first is None:
                return None
            return text[first.start():end.start() if end else len(text)]
    return None


def header_section_length(raw: bytes) -> int:
    """Where the header section of ``raw`` ends (its first empty line), or ``len(raw)``."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    return min(ends) + 1 if ends else len(raw)


def read_header_fields(raw: bytes | str) -> list[tuple[str, str]]:
    """Split a raw message's header section into (name, value) pairs, in linear time. Never raises.

    Lenient on purpose: 8-bit bytes are read as UTF-8 where valid and Latin-1
    otherwise, NULs are dropped, blank lines, an mbox ``From `` line and any other
    line before the first field are skipped, and a line with no field name inside
    the header section is taken as a broken fold of the field before it, not as the
    start of the body. Continuation lines are joined with newlines. Only the first
    :data:`MAX_HEADER_BYTES` are looked at. The work is done by regular expressions
    and bytes methods, not a loop over lines: a field folded into a million lines is
    read in a fraction of a second.
    """
    data = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogatepass")
    section = _section(data[:MAX_HEADER_BYTES])
    if section is None:
        return []
    starts = list(_FIELD_START.finditer(section))
    ends = [match.start() - 1 for match in starts[1:]] + [len(section)]
    return [(_decode(match.group(1)), _decode_value(section[match.end():end]))
            for match, end in zip(starts, ends, strict=True)]


# Patterns for dkimpy's view of the header section, matched on the section with a newline put
# in front, so that every line starts after a literal newline: the regular expression engine
# then jumps from newline to newline instead of trying every position.
# A field's first line (its name is the shortest run before a colon), or an mbox "From " line.
_DKIMPY_START = re.compile(rb"\n(?:([\x21-\x7e]+?):|From )")
_DKIMPY_BAD_LINE = re.compile(rb"\n(?![ \t]|[\x21-\x7e]+?:|From )")
_CONTINUATION = re.compile(rb"\n[ \t]")


def _crlf_lines(data: bytes) -> bytes:
    """``b"\\r\\n".join(re.split(b"\\r?\\n", data))``, without splitting into lines."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _crlf_value(data: bytes) -> bytes:
    """A value as dkimpy keeps it: every line, the last one too, ending in CRLF."""
    value = _crlf_lines(data)
    return value if value.endswith(b"\n") else value + b"\r\n"


def _split_head(message: bytes) -> tuple[bytes, bytes]:
    """(header lines, body) split at dkimpy's first empty line: a line end at the very
    start, a line end right after another, or nothing after the last line end."""
    if message.startswith((b"\n", b"\r\n")) or not message:
        return b"", message[message.find(b"\n") + 1:] if message else b""
    candidates = [(i + 1, i + 2) for i in (message.find(b"\n\n"),) if i >= 0]
    candidates += [(i + 1, i + 3) for i in (message.find(b"\n\r\n"),) if i >= 0]
    if message.endswith(b"\n"):
        candidates.append((len(message), len(message)))
    if not candidates:
        return message, b""
    head_end, body_start = min(candidates)
    return message[:head_end], message[body_start:]


def dkimpy_parse(message: bytes) -> tuple[list[list[bytes]], bytes]:
    """``dkim.rfc822_parse(message)`` in linear time: ([name, value] pairs, body).

    Values end in CRLF and keep their continuation lines, as dkimpy expects, because
    signatures are computed over them. Raises dkimpy's ``MessageFormatError`` where dkimpy
    raises (and an IndexError, as it does, for a continuation before any field). The tests
    compare the two on generated messages.
    """
    head, body = _split_head(message)
    work = b"\n" + head  # match offsets in ``work`` are line starts in ``head``
    _check_lines(work)
    headers: list[list[bytes]] = []
    pieces: list[bytes] = []
    position = 0
    for match in _DKIMPY_START.finditer(work):
        # What lies before this line continues the field before it.
        pieces.append(head[position:match.start()])
        if match.group(1) is None:  # a "From " line: skipped, as dkimpy does
            line_end = head.find(b"\n", match.start())
            position = len(head) if line_end < 0 else line_end + 1
            continue
        if headers:
            headers[-1][1] = _crlf_value(b"".join(pieces))
        headers.append([match.group(1), b""])
        pieces = []
        position = match.end() - 1
    pieces.append(head[position:])
    if headers:
        headers[-1][1] = _crlf_value(b"".join(pieces))
    return headers, _crlf_lines(body)


def _check_lines(work: bytes) -> None:
    """Raise as dkimpy would on the first line that is neither a field, a continuation
    of one nor a "From " line (a continuation before any field is one of those)."""
    lines = work[:-1] if work.endswith(b"\n") else work
    if len(lines) <= 1:
        return
    bad = _DKIMPY_BAD_LINE.search(lines)
    first = next((m for m in _DKIMPY_START.finditer(lines) if m.group(1) is not None), None)
    orphan = _CONTINUATION.search(lines, 0, first.start() + 1 if first else len(lines))
    if orphan is not None and (bad is None or orphan.start() < bad.start()):
        raise IndexError("continuation line before the first header field")
    if bad is not None:
        line = lines[bad.start() + 1:].split(b"\n", 1)[0]
        raise MessageFormatError(f"Unexpected characters in RFC822 header: {line[:80]!r}")


class LinearParseMixin:
    """Make a dkimpy verifier read the message with :func:`dkimpy_parse`, and let a second
    verifier (ARC after DKIM) start from the first one's parse instead of parsing again."""

    headers: list[list[bytes]]
    body: bytes
    parsed_body: bytes = b""

    def set_message(self, message: bytes) -> None:
        super().set_message(b"")  # type: ignore[misc]
        if message:
            self.headers, self.body = dkimpy_parse(message)
        self.parsed_body = self.body

    def adopt(self, other: LinearParseMixin) -> None:
        """Take over ``other``'s parse of the same message (copies, as dkimpy may edit them)."""
        self.headers = [list(pair) for pair in other.headers]
        self.body = self.parsed_body = other.parsed_body
