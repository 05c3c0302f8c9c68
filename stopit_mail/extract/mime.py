"""Parse message bytes without ever raising, and read headers and text defensively.

Reported mail is often broken on purpose or by accident: lying or unknown charsets, 8-bit
headers, missing boundaries, NUL bytes, absurd nesting. Everything here returns a best-effort
value and records what was wrong as a defect string instead of raising, so one hostile message
cannot stop the pipeline.
"""

from __future__ import annotations

import email
import email.header
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32
from functools import lru_cache

from stopit_mail.byte_order import little_endian_likely
from stopit_mail.extract.htmltext import html_to_text


@dataclass
class WalkedPart:
    """A leaf or container part with its MIME path ("1.2") and nesting depth."""

    part: Message
    path: str
    depth: int


@dataclass
class ParsedMessage:
    """A parsed message plus the defects found while parsing and walking it."""

    message: Message
    defects: list[str] = field(default_factory=list)


#: What Notepad and other Windows tools put in front of a saved .eml (never part of mail).
UTF8_BOM = b"\xef\xbb\xbf"
#: A header field folded into more lines than this is read unfolded (see unfold_hostile).
MAX_FOLD_LINES = 1000
# A header field (a name, a colon) followed by more than MAX_FOLD_LINES continuation lines.
# The quantifiers are possessive so that a run just short of the limit fails without backtracking.
_HOSTILE_FOLD = re.compile(
    rb"^[\x21-\x39\x3b-\x7e]++[ \t]*+:[^\r\n]*+(?:\r?\n[ \t][^\r\n]*+){%d,}+" % (MAX_FOLD_LINES + 1), re.M)
#: Header values longer than this are cut before decoding: they are shown to people, and the
#: email package reads encoded words and addresses a character at a time.
MAX_VALUE_CHARS = 65_536


def unfold_hostile(content: bytes) -> tuple[bytes, int]:
    """``content`` with every header field folded into more than MAX_FOLD_LINES lines unfolded
    onto one line, and how many such fields there were.

    The email package reads a message a line at a time in Python: a header folded into a
    million lines took seconds per parse, and a report is parsed more than once. Unfolding is
    what RFC 5322 says a field's value is, so the parsed values do not change; the exact bytes
    (kept for DKIM) are never rewritten, only the copy that is parsed.
    """
    if content.count(b"\n ") + content.count(b"\n\t") <= MAX_FOLD_LINES:
        return content, 0
    found = 0

    def unfold(match: re.Match[bytes]) -> bytes:
        nonlocal found
        found += 1
        return match.group().replace(b"\r\n", b"").replace(b"\n", b"")

    return _HOSTILE_FOLD.sub(unfold, content), found


def parse_bytes(content: bytes) -> ParsedMessage:
    """Parse with the lenient compat32 policy (the modern policy raises on real-world headers)."""
    bom = content.startswith(UTF8_BOM)
    readable, hostile = unfold_hostile(content[len(UTF8_BOM):] if bom else content)
    message = email.message_from_bytes(readable, policy=compat32)
    defects = [f"{type(d).__name__}" for d in message.defects]
    if bom:
        # Windows tools save .eml files with one; the parser took the whole header for body.
        defects.append("ByteOrderMark: a UTF-8 byte order mark before the header was read past")
    if hostile:
        defects.append(f"HostileFolding: {hostile} header field(s) folded into more than "
                       f"{MAX_FOLD_LINES} lines were read unfolded")
    if b"\x00" in content:
        defects.append("NulByte")
    return ParsedMessage(message, defects)


def _raw_utf8(text: str) -> str:
    """Undo the parser's surrogate escapes of raw 8-bit header bytes: UTF-8 (RFC 6532) first.

    Without this "Zoë" in an SMTPUTF8 From header became "Zo\ufffd\ufffd", and redaction could
    no longer recognise the reporter's name.
    """
    if text.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _header_text(value: object) -> str:
    """The parser hands raw 8-bit header bytes over as a Header of 'unknown-8bit' chunks."""
    if isinstance(value, email.header.Header):
        try:
            chunks = email.header.decode_header(value)
        except Exception:  # noqa: BLE001
            return str(value)
        out = []
        for chunk, charset in chunks:
            if isinstance(chunk, bytes) and charset in (None, "unknown-8bit"):
                out.append(_raw_utf8(chunk.decode("ascii", "surrogateescape")))
            elif isinstance(chunk, bytes):
                out.append(email.header.make_header([(chunk, charset)]).encode())
            else:
                out.append(chunk)
        return "".join(out)
    return _raw_utf8(str(value))


def decode_header_value(value: object) -> str:
    """A header as text: RFC 2047 words decoded, unknown charsets replaced, never raises."""
    if value is None:
        return ""
    raw = _header_text(value)[:MAX_VALUE_CHARS]
    try:
        chunks = email.header.decode_header(raw)
    except Exception:  # noqa: BLE001 - malformed encoded words are common
        return _clean(raw)
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset))
    return _clean("".join(out))


def decode_words(text: str) -> str:
    """Text a client printed with RFC 2047 encoded-words still in it, decoded; other text as is.

    Pasted "Show original" headers and some clients' forwards print From and Subject as they
    travel ("=?UTF-8?B?0L/QuNGB0YzQvNC+?="): no reader sees that in their mailbox."""
    return decode_header_value(text) if "=?" in text and "?=" in text else text


def _clean(text: str) -> str:
    """Unfold and drop control characters that have no place in a header value."""
    text = text.replace("\r", " ").replace("\n", " ").replace("\x00", "")
    return " ".join(text.split())


# Labels that mail clients write for a larger charset than the label names, read as browsers
# read them (the WHATWG Encoding Standard): 'iso-8859-1' text from Windows has its curly quotes
# and dashes at 0x80-0x9F, which Latin-1 makes invisible control characters; 'gb2312' Chinese
# mail is GBK, 'ks_c_5601-1987' Korean mail is cp949 and 'shift_jis' Japanese mail is cp932, and
# each of the narrow codecs failed on their extra characters, so the whole text came out as
# cp1252 mojibake. Each superset reads the narrow charset's bytes the same way. 'us-ascii' is
# not widened: 8-bit text under it is far more often UTF-8, which the fallback below tries.
_SUPERSETS = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "iso-8859-9": "cp1254", "latin5": "cp1254",
    "tis-620": "cp874", "iso-8859-11": "cp874",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "euc-cn": "gb18030", "cp936": "gb18030",
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "euc-kr": "cp949",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "big5": "big5hkscs",
}
# 8-bit text under a 7-bit Japanese label: mailing lists converted ISO-2022-JP to EUC-JP and
# kept the label (SpamAssassin's iso-2022-jp.2).
_EIGHT_BIT_FOR = {"iso-2022-jp": ("euc-jp", "cp932")}


_UTF16_LABELS = frozenset({"utf-16", "utf16", "ucs-2", "ucs2", "iso-10646-ucs-2", "unicode"})


def _utf16_order(payload: bytes) -> str:
    """The codec for UTF-16 text labelled without its byte order: its BOM, else the likely order.
    Python's 'utf-16' reads BOM-less text as little-endian, so a big-endian encoded-word
    ('=?UTF-16?B?AEgAaQ==?=', Java's and .NET's BigEndianUnicode) became CJK-looking noise."""
    if payload[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    return "utf-16-le" if little_endian_likely(payload) else "utf-16-be"


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Bytes to text with the declared charset, falling back when it is unknown or lies."""
    label = (charset or "").strip().lower()
    charset = _utf16_order(payload) if label in _UTF16_LABELS else _SUPERSETS.get(label, charset)
    candidates = [c for c in (charset, *_EIGHT_BIT_FOR.get(label, ()), "utf-8")
                  if c and c.lower() not in ("x-unknown", "unknown-8bit")]
    for candidate in candidates:
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return payload.decode("cp1252", errors="replace") if candidates else payload.decode("latin-1")


def header(message: Message, name: str) -> str:
    """One header decoded (the first occurrence), '' when absent or unreadable."""
    try:
        return decode_header_value(message.get(name))
    except Exception:  # noqa: BLE001
        return ""


def addresses(message: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header, decoded; never raises."""
    try:
        values = tuple(_header_text(v)[:MAX_VALUE_CHARS] for v in message.get_all(name, []))
    except Exception:  # noqa: BLE001
        return []
    if sum(map(len, values)) <= MAX_REMEMBERED_ADDRESS_CHARS:
        return list(_remembered_addresses(values))
    return list(_read_addresses(values))


# A display name that is itself an address, left unquoted: a phisher's "purchasing@supplier.com
# <do-not-reply@elsewhere>", Outlook's cut-off "jang.abcdef@xyzlinu <jang.abcdef@xyzlinux...it>".
# The email package reads two mailboxes there, the name first, so the name became the sender;
# mail clients show it as the name and reply to the bracketed address. Each '@' and delimiter is
# excluded from the part before the first '@', so the match stays linear in the value.
_ADDRESS_AS_NAME = re.compile(r'(^|,)(\s*)([^,"<>;:()\\@]*@[^,"<>;:()\\]*)<')


def quote_address_names(value: str) -> str:
    """`value` with each unquoted display name that holds an '@' quoted, so that it is read as the
    name of the address in angle brackets after it."""
    if "<" not in value or "@" not in value:
        return value
    return _ADDRESS_AS_NAME.sub(lambda m: f'{m[1]}{m[2]}"{m[3].rstrip()}" <', value)


def _read_addresses(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    try:
        pairs = email.utils.getaddresses([quote_address_names(v) for v in values])
    except Exception:  # noqa: BLE001 - e.g. group syntax the parser chokes on
        return ()
    return tuple((decode_header_value(display), addr.strip().lower()) for display, addr in pairs if addr or display)


# The email package reads addresses a character at a time, and the same To, Cc and From values
# come back all the time (the chain alone reads a report's To and Cc four times; a sender writes
# many reports): a value's reading is remembered per process.
MAX_REMEMBERED_ADDRESS_CHARS = 2_000
_remembered_addresses = lru_cache(maxsize=4096)(_read_addresses)


def walk(message: Message, max_depth: int, max_parts: int, defects: list[str]) -> Iterator[WalkedPart]:
    """Every part in document order, without recursion, stopping at the depth and count limits."""
    stack: list[WalkedPart] = [WalkedPart(message, "", 0)]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > max_parts:
            defects.append(f"TooManyParts: stopped after {max_parts} parts")
            return
        yield item
        try:
            payload = item.part.get_payload()
        except Exception:  # noqa: BLE001
            defects.append(f"UnreadablePart at {item.path or 'top'}")
            continue
        if not isinstance(payload, list):
            continue
        if item.depth >= max_depth:
            defects.append(f"NestingTooDeep: parts below depth {max_depth} at {item.path or 'top'} not examined")
            continue
        children = [
            WalkedPart(child, f"{item.path}.{i}" if item.path else str(i), item.depth + 1)
            for i, child in enumerate(payload, start=1)
            if isinstance(child, Message)
        ]
        stack.extend(reversed(children))


def part_bytes(part: Message) -> bytes:
    """A leaf part's decoded payload bytes ('' when undecodable)."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        return b""
    return payload if isinstance(payload, bytes) else b""


def part_text(part: Message, defects: list[str] | None = None) -> str:
    """A text part decoded with its charset; 8-bit text under a us-ascii label is read as UTF-8."""
    payload = part_bytes(part)
    charset = None
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001
        pass
    if charset in (None, "us-ascii") and not payload[:65536].isascii():
        if defects is not None:
            defects.append("CharsetMismatch: 8-bit text declared as us-ascii")
        charset = "utf-8"
    text = decode_bytes(payload, charset)
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\x00", "")
    try:
        flowed = part.get_content_type() == "text/plain" and str(part.get_param("format", "")).lower() == "flowed"
        delsp = str(part.get_param("delsp", "")).lower() == "yes"
    except Exception:  # noqa: BLE001 - a malformed parameter: read the text as it is
        flowed = delsp = False
    return unflow(text, delsp) if flowed else text


_QUOTE_DEPTH = re.compile(r">*")


def unflow(text: str, delsp: bool = False) -> str:
    """RFC 3676 format=flowed text as the writer typed it: a line ending in a space continues on the
    next one (within the same quote depth), space-stuffing removed, the signature line kept.

    Mail clients (Thunderbird, Apple Mail, many phones) wrap long lines at about 72 characters this
    way; read line by line, one sentence came out as three pieces ("saving up her" / "pills and is
    planning..."), each scored on its own and none like what was written.
    """
    out: list[str] = []
    paragraph: list[str] = []
    depth_of = -1
    for line in text.split("\n"):
        depth = len(_QUOTE_DEPTH.match(line).group())  # type: ignore[union-attr]
        body = line[depth:]
        if body.startswith(" "):
            body = body[1:]
        if paragraph and depth != depth_of:
            out.append(">" * depth_of + (" " if depth_of else "") + "".join(paragraph))
            paragraph = []
        soft = body.endswith(" ") and body != "-- "
        paragraph.append(body[:-1] if soft and delsp else body)
        depth_of = depth
        if not soft:
            out.append(">" * depth + (" " if depth else "") + "".join(paragraph))
            paragraph = []
    if paragraph:
        out.append(">" * depth_of + (" " if depth_of else "") + "".join(paragraph))
    return "\n".join(out)


def is_attachment(part: Message) -> bool:
    """A part the sender meant as a file rather than as the message text."""
    try:
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        return disposition == "attachment" or bool(part.get_filename())
    except Exception:  # noqa: BLE001
        return True


def body_text(message: Message, max_depth: int, max_parts: int, defects: list[str]) -> str:
    """The readable body of a message, not descending into attached messages.

    Prefers text/plain; falls back to text/html converted to text (Outlook often sends only
    HTML, and forward separators must still be found in it).
    """
    plain: list[str] = []
    # HTML parts are converted only when there is no plain text: a multipart/alternative can
    # hold thousands of HTML alternatives beside its text/plain (flanker's enclosed-endless:
    # 3,038 of them cost 2.3 s to convert, all for nothing).
    html: list[Message] = []
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        content_type = part.get_content_type()
        if content_type == "message/rfc822" or depth > max_depth:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
            continue
        if is_attachment(part) and depth > 0:
            continue
        if content_type == "text/plain":
            plain.append(part_text(part, defects))
        elif content_type == "text/html":
            html.append(part)
    return "\n".join(plain) if plain else "\n".join(part_text(part, defects) for part in html)
