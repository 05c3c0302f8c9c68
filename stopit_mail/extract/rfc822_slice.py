"""Cut attached original messages out of a report, byte for byte.

When someone forwards a harassing email "as attachment", the original travels
as a ``message/rfc822`` part (or an ``.eml`` file). Its DKIM signatures can
still be checked, but only on the exact bytes the signer produced: parsing the
report with the ``email`` package and re-serialising the part refolds headers,
rewrites line endings and re-encodes 8-bit bodies, which breaks ``simple``
canonicalisation and any body hash. So this module finds the MIME boundaries
itself, on the raw bytes, and slices.

Per RFC 2046 section 5.1.1 a part's content runs from after its delimiter
line to the line break *before* the next delimiter (that line break belongs
to the delimiter). When the forwarder encoded the attachment anyway (base64
or quoted-printable, which RFC 2046 forbids for message/rfc822 but clients
do), the part is decoded, which gives back the original bytes.

The ``email`` package is used only to read Content-Type parameters. The walk
is iterative, bounded by ``max_depth`` encapsulations and a multipart nesting
limit, and each level is scanned once, so hostile input cannot blow the stack
or take quadratic time. Nothing here raises: oddities become ``problems``.
"""

from __future__ import annotations

import binascii
import email.parser
import email.policy
import logging
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import pairwise

from stopit_mail.extract.mime import unfold_hostile

_LOG = logging.getLogger(__name__)
MESSAGE_TYPES = ("message/rfc822", "message/global")
# Deeper multipart nesting than this is an attack, not mail.
MAX_MULTIPART_NESTING = 64
_KNOWN_HEADERS = {b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"received",
                  b"return-path", b"mime-version", b"dkim-signature", b"reply-to", b"sender"}


@dataclass
class AttachedOriginal:
    """One attached message, as the exact bytes its author's server produced.

    ``path`` numbers parts like IMAP does ("2" is the report's second part,
    "2.1" the first part inside that). ``depth`` is 1 for a message attached
    to the report, 2 for one attached to that, and so on.
    """

    bytes: bytes
    depth: int
    path: str
    content_type: str
    filename: str | None
    transfer_encoding: str
    problems: list[str] = field(default_factory=list)


@dataclass
class _Entity:
    """A MIME entity still to visit: a byte range of some buffer."""

    buf: bytes
    start: int
    end: int
    path: tuple[int, ...]
    depth: int
    nesting: int
    default_type: str = "text/plain"
    message_top: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass
class _HeaderInfo:
    content_type: str = "text/plain"
    boundary: bytes | None = None
    filename: str | None = None
    transfer_encoding: str = "7bit"


def slice_attached_messages(raw: bytes, max_depth: int = 10) -> list[AttachedOriginal]:
    """Every attached message in ``raw``, nested ones too, in document order."""
    found: list[AttachedOriginal] = []
    stack = [_Entity(raw, 0, len(raw), (), 0, 0, message_top=True)]
    while stack:
        entity = stack.pop()
        try:
            children = _visit(entity, found, max_depth)
        except Exception:
            # A bug on one part must not lose the others; the log tells us about it.
            _LOG.exception("slicing part %s failed", ".".join(map(str, entity.path)) or "top")
            children = []
        stack.extend(reversed(children))
    return found


def _visit(entity: _Entity, found: list[AttachedOriginal], max_depth: int) -> list[_Entity]:
    head_end, body_start = split_head(entity.buf, entity.start, entity.end)
    info = _header_info(entity.buf[entity.start:head_end], entity.default_type)
    if info.content_type.startswith("multipart/"):
        return _multipart_children(entity, info, body_start)
    body = entity.buf[body_start:entity.end]
    kind = _attachment_kind(info, body)
    if kind == "no" or entity.depth + 1 > max_depth:
        return []
    data, problems = _decode(body, info.transfer_encoding)
    if kind == "maybe" and not _looks_like_message(data):
        return []
    path = entity.path + (1,) if entity.message_top else entity.path
    found.append(AttachedOriginal(data, entity.depth + 1, ".".join(map(str, path)),
                                  info.content_type, info.filename, info.transfer_encoding,
                                  entity.problems + problems))
    return [_Entity(data, 0, len(data), path, entity.depth + 1, entity.nesting + 1,
                    message_top=True)]


def _attachment_kind(info: _HeaderInfo, body: bytes) -> str:
    """"yes" for message/rfc822 or an ``.eml`` file, "maybe" for an octet-stream to sniff."""
    if info.content_type in MESSAGE_TYPES:
        return "yes"
    if info.filename and info.filename.strip().lower().endswith(".eml"):
        return "yes"
    if info.content_type == "application/octet-stream" and body.strip():
        return "maybe"
    return "no"


def _multipart_children(entity: _Entity, info: _HeaderInfo, body_start: int) -> list[_Entity]:
    if not info.boundary:
        return []
    if entity.nesting >= MAX_MULTIPART_NESTING:
        return []
    ranges, problems = _split_multipart(entity.buf, body_start, entity.end, info.boundary)
    default = "message/rfc822" if info.content_type == "multipart/digest" else "text/plain"
    return [_Entity(entity.buf, start, end, entity.path + (i + 1,), entity.depth,
                    entity.nesting + 1, default, problems=entity.problems + problems)
            for i, (start, end) in enumerate(ranges)]


def split_head(buf: bytes, start: int, end: int) -> tuple[int, int]:
    """Where the header block ends and the body starts (after the empty line)."""
    if buf.startswith(b"\r\n", start, end):
        return start, start + 2
    if buf.startswith(b"\n", start, end):
        return start, start + 1
    hits = [(i, len(sep)) for sep in (b"\n\r\n", b"\n\n")
            if (i := buf.find(sep, start, end)) >= 0]
    if not hits:
        return end, end
    index, size = min(hits)
    return index + 1, index + size


def _split_multipart(buf: bytes, body_start: int, end: int, boundary: bytes
                     ) -> tuple[list[tuple[int, int]], list[str]]:
    """Byte ranges of the body parts between the delimiter lines of one multipart."""
    delimiters = _delimiters(buf, body_start, end, b"--" + boundary)
    if not delimiters:
        return [], [f"no delimiter line for boundary {boundary[:70]!r}"]
    ranges = [(content_start, max(content_start, _before_line_break(buf, next_line)))
              for (_l, content_start, _c), (next_line, _s, _e) in pairwise(delimiters)]
    problems = []
    last_line, last_start, last_close = delimiters[-1]
    if not last_close:
        problems.append(f"closing boundary {boundary[:70]!r} missing; last part runs to the end")
        ranges.append((last_start, end))
    return ranges, problems


def _delimiters(buf: bytes, body_start: int, end: int, delimiter: bytes
                ) -> list[tuple[int, int, bool]]:
    """(line start, first byte after the line, is closing) for each delimiter line."""
    found = []
    pos = body_start
    while (i := buf.find(delimiter, pos, end)) >= 0:
        pos = i + 1
        if i != body_start and buf[i - 1:i] != b"\n":
            continue
        after = i + len(delimiter)
        close = buf.startswith(b"--", after, end)
        k = after + 2 if close else after
        # Transport padding (RFC 2046): whitespace may follow the boundary.
        while k < end and buf[k] in b" \t":
            k += 1
        if k < end and buf[k] not in b"\r\n":
            continue
        line_end = k + 2 if buf.startswith(b"\r\n", k, end) else min(k + 1, end)
        found.append((i, line_end, close))
        pos = line_end
        if close:
            break
    return found


def _before_line_break(buf: bytes, line_start: int) -> int:
    """The end of a part: the CRLF (or bare LF) before a delimiter belongs to it."""
    if buf[line_start - 2:line_start] == b"\r\n":
        return line_start - 2
    if buf[line_start - 1:line_start] == b"\n":
        return line_start - 1
    return line_start


# A field whose name starts "Content-": without one, a part's head says nothing the slicer reads.
_CONTENT_FIELD = re.compile(rb"^content-", re.IGNORECASE | re.MULTILINE)


def _header_info(block: bytes, default_type: str) -> _HeaderInfo:
    if not _CONTENT_FIELD.search(block):
        # An attached message's own head (Received, DKIM...) usually: the defaults, unparsed.
        return _HeaderInfo(content_type=default_type)
    fields = _content_fields(block)
    if fields is None:
        return _read_header_info(block, default_type)
    if len(fields) > _MAX_REMEMBERED_FIELDS:
        return _read_header_info(fields, default_type)
    return replace(_remembered_info(fields, default_type))


# Only a part's Content-* fields say what the slicer reads (its type, boundary, file name and
# transfer encoding): parsed alone they read the same, and the same few come back in part after
# part and report after report, so each is read once per process.
_FIELD_START = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
_MAX_REMEMBERED_FIELDS = 2_048


def _content_fields(block: bytes) -> bytes | None:
    """The Content-* fields of a header block, with their continuation lines; None when a line of
    the block is not a named field or a continuation: the email package stops reading fields at
    such a line, or skips a nameless one and adds what continues it to the field before."""
    kept: list[bytes] = []
    keep = False
    for line in block.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if keep:
                kept.append(line)
            continue
        if not _FIELD_START.match(line):
            return None
        keep = line[:8].lower() == b"content-"
        if keep:
            kept.append(line)
    return b"".join(kept)


def _read_header_info(block: bytes, default_type: str) -> _HeaderInfo:
    info = _HeaderInfo(content_type=default_type)
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(unfold_hostile(block)[0])
        headers.set_default_type(default_type)
        info.content_type = headers.get_content_type()
        boundary = headers.get_boundary()
        if boundary:
            info.boundary = boundary.encode("utf-8", "surrogateescape")
        info.filename = headers.get_filename()
        info.transfer_encoding = str(headers.get("content-transfer-encoding", "7bit")).strip().lower()
    except Exception:
        # Headers the email package cannot read: treat the part as plain text.
        pass
    return info


_remembered_info = lru_cache(maxsize=1024)(_read_header_info)


def _decode(body: bytes, encoding: str) -> tuple[bytes, list[str]]:
    if encoding in ("", "7bit", "8bit", "binary"):
        return body, []
    if encoding == "base64":
        return _decode_base64(body)
    if encoding == "quoted-printable":
        try:
            return binascii.a2b_qp(body), []
        except (binascii.Error, ValueError) as exc:
            return body, [f"quoted-printable could not be decoded ({exc}); kept as is"]
    return body, [f"unknown transfer encoding {encoding[:40]!r}; kept as is"]


def _decode_base64(body: bytes) -> tuple[bytes, list[str]]:
    try:
        return binascii.a2b_base64(body), []
    except (binascii.Error, ValueError):
        pass
    # Repair what mailers break most: stray characters and missing padding.
    compact = re.sub(rb"[^A-Za-z0-9+/]", b"", body)
    compact = compact[: len(compact) - len(compact) % 4 if len(compact) % 4 == 1 else None]
    compact += b"=" * (-len(compact) % 4)
    try:
        return binascii.a2b_base64(compact), ["base64 was damaged and has been repaired"]
    except (binascii.Error, ValueError) as exc:
        return body, [f"base64 could not be decoded ({exc}); kept as is"]


def _looks_like_message(data: bytes) -> bool:
    """True when the bytes start with a header block naming two usual message fields."""
    head = data[:65_536]
    stop = min((i for i in (head.find(b"\n\n"), head.find(b"\n\r\n")) if i >= 0),
               default=len(head))
    lines = head[:stop].split(b"\n")
    if not lines or not re.match(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:", lines[0]):
        return False
    names = {line.partition(b":")[0].strip().lower() for line in lines if b":" in line}
    return len(names & _KNOWN_HEADERS) >= 2
