"""What a mail client shows of an HTML part or a calendar entry, which matching on its bytes would not see.

A client joins what the markup splits: "Ki<b></b>m" and "Ki<!-- x -->m" read "Kim", and a
mailto link written with character references ("&#107;im@...") opens the address. Comments are
dropped, inline tags removed without a gap and block tags turned into line breaks, as shown; the
markup is also read whole with its references decoded, so attributes (links, alt text) count.
"""

from __future__ import annotations

import codecs
import email.errors
import email.header
import html
import quopri
import re
from email.message import Message

_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_BLOCK = re.compile(r"</?(?:p|div|br|tr|td|th|li|h[1-6]|blockquote|hr|table|ul|ol|pre|section|article|"
                    r"header|footer)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")


def html_shown(markup: str) -> str:
    """The text an HTML part shows, its line structure kept."""
    return html.unescape(_TAG.sub("", _BLOCK.sub("\n", _COMMENT.sub("", markup))))


def html_forms(markup: str) -> list[str]:
    """Every reading of an HTML part a trace could hide in: shown, tags as gaps, the whole markup."""
    return [html_shown(markup), html.unescape(_TAG.sub(" ", markup)), html.unescape(markup)]


# Types made of content lines (RFC 5545 iCalendar, RFC 6350 vCard) are folded every 75 octets
# wherever that falls, inside a name or an address ("CN=Kim Pa\r\n rk"); their readers unfold them.
CONTENT_LINE_TYPES = frozenset({"text/calendar", "text/x-vcalendar", "text/vcard", "text/x-vcard", "text/directory"})
_FOLD = re.compile(r"\r?\n[ \t]")


def content_lines_shown(text: str, content_type: str) -> str:
    """A calendar entry or contact card unfolded, as its reader shows it; any other text as it is."""
    return _FOLD.sub("", text) if content_type in CONTENT_LINE_TYPES else text


def content_line_forms(text: str, content_type: str) -> list[str]:
    """Every reading of a calendar entry or card a trace could hide in: unfolded, and with vCard
    2.1's quoted-printable values decoded ("N;ENCODING=QUOTED-PRINTABLE:=C3=85sa")."""
    if content_type not in CONTENT_LINE_TYPES:
        return []
    unfolded = content_lines_shown(text, content_type)
    return [unfolded, quopri.decodestring(unfolded.encode("utf-8", "replace")).decode("utf-8", "replace")]


def header_shown(part: Message, name: str, raw: str) -> tuple[str, bool]:
    """A header field as a mail client shows it (encoded words decoded), and whether Python's
    parser reads it. A harasser's own header ("To: a@[", "To: undisclosed-recipients:; a@b")
    makes the parser raise AttributeError or IndexError, on reading and on writing alike."""
    try:
        return str(part.policy.header_fetch_parse(name, raw)), True  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - the parser's bugs raise anything; the text is still shown
        return _decoded_words(raw), False


def _decoded_words(raw: str) -> str:
    """A raw header value with its encoded words decoded as far as they decode."""
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return raw


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def decode_text_file(data: bytes, charset: str | None = None) -> str:
    """A text file's bytes as its reader's editor shows them, whatever the charset label says.

    Windows writes "Unicode" text (Notepad, PowerShell, many exports) as UTF-16 with a byte order
    mark, and some tools without one: read as UTF-8 its letters are split by NUL bytes, so a
    name in it matched nothing. A byte order mark decides; else NUL bytes on one side of most
    pairs say UTF-16; else the declared charset, UTF-8, then Windows-1252.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    head = data[:4096]
    pairs = len(head) // 2
    if pairs >= 2 and b"\x00" in head:
        odd, even = head[1::2].count(0), head[0::2].count(0)
        if max(odd, even) * 10 >= pairs * 3 and min(odd, even) * 10 < pairs:
            return data.decode("utf-16-le" if odd > even else "utf-16-be", errors="replace")
    for candidate in (charset, "utf-8"):
        try:
            return data.decode(candidate) if candidate else data.decode("utf-8")
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("cp1252", errors="replace")
