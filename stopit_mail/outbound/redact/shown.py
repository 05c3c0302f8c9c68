"""What a mail client shows of an HTML part or a calendar entry, which matching on its bytes would not see.

A client joins what the markup splits: "Ki<b></b>m" and "Ki<!-- x -->m" read "Kim", and a
mailto link written with character references ("&#107;im@...") opens the address. Comments are
dropped, inline tags removed without a gap and block tags turned into line breaks, as shown; the
markup is also read whole with its references decoded, so attributes (links, alt text) count.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email.errors
import email.header
import html
import quopri
import re
from email.message import Message

from stopit_mail.byte_order import little_endian_likely

_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
# A style sheet or script is not shown as text (what a style sheet generates is read by css_shown).
_UNSHOWN = re.compile(r"<(style|script)\b[^>]*>.*?(?:</\1\s*>|$)", re.S | re.I)
_BLOCK = re.compile(r"</?(?:p|div|br|tr|td|th|li|h[1-6]|blockquote|hr|table|ul|ol|pre|section|article|"
                    r"header|footer)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")


def html_shown(markup: str) -> str:
    """The text an HTML part shows, its line structure kept."""
    return html.unescape(_TAG.sub("", _BLOCK.sub("\n", _UNSHOWN.sub("", _COMMENT.sub("", markup)))))


# CSS writes a character as a backslash and its code in hex ("\\50 ark" is "Park"), or any other
# character after a backslash; `content:` joins adjacent strings ("'Ki' 'm'"). A style sheet's
# `p::after { content: ... }` is shown as text by Apple Mail and Thunderbird.
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\f]?|\r\n|(.))", re.S)
_CSS_STRINGS_JOINED = re.compile(r"(?<=[^\s\\])[\"']\s*[\"'](?=\S)")


def _css_char(match: re.Match[str]) -> str:
    if match.group(1):
        code = int(match.group(1), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    return match.group(2) or ""


def css_shown(markup: str) -> str:
    """Markup with CSS escapes decoded and adjacent quoted strings joined, as generated content shows."""
    if "\\" not in markup and "content" not in markup.lower():
        return markup
    return _CSS_STRINGS_JOINED.sub("", _CSS_ESCAPE.sub(_css_char, markup))


def html_forms(markup: str) -> list[str]:
    """Every reading of an HTML part a trace could hide in: shown, tags as gaps, the whole markup,
    and the style sheets' generated content (CSS escapes decoded)."""
    whole = html.unescape(markup)
    return [html_shown(markup), html.unescape(_TAG.sub(" ", markup)), whole, css_shown(whole)]


# Types made of content lines (RFC 5545 iCalendar, RFC 6350 vCard) are folded every 75 octets
# wherever that falls, inside a name or an address ("CN=Kim Pa\r\n rk"); their readers unfold them.
CONTENT_LINE_TYPES = frozenset({"text/calendar", "text/x-vcalendar", "text/vcard", "text/x-vcard", "text/directory"})
_CONTENT_LINE_FILES = (".ics", ".ifb", ".vcs", ".vcf", ".vcard")
_FOLD = re.compile(r"\r?\n[ \t]")
# A vCard 2.1 / vCalendar 1.0 property whose value is quoted-printable; a "=" at the end of a line
# continues the value on the next line, which (unlike a fold) does not start with a space.
_QP_PROPERTY = re.compile(r"^([^:\r\n]*;(?:ENCODING=)?QUOTED-PRINTABLE\b[^:\r\n]*):((?:[^\r\n]*=\r?\n)*[^\r\n]*)",
                          re.I | re.M)
_CHARSET_PARAM = re.compile(r";CHARSET=[^;:]*", re.I)


def is_content_lines(content_type: str, filename: str | None = None) -> bool:
    """Whether a part is a calendar entry or contact card, by its type or, as a mail client
    opens an attachment, by its file name ("card.vcf" sent as text/plain)."""
    return content_type in CONTENT_LINE_TYPES or (filename or "").lower().endswith(_CONTENT_LINE_FILES)


def _qp_value_shown(match: re.Match[str]) -> str:
    """One quoted-printable property with its value decoded, as a contacts app shows it.

    The value is written back in UTF-8 with only "=" and line breaks still escaped, so it stays a
    valid quoted-printable value (the property keeps its ENCODING) while the name in it reads
    as letters that redaction can find; its CHARSET becomes UTF-8, which it now is."""
    params, value = match.group(1), match.group(2)
    charset = next((m.group(0).partition("=")[2] for m in _CHARSET_PARAM.finditer(params)), "utf-8")
    raw = quopri.decodestring(value.encode("ascii", "replace"))
    try:
        decoded = raw.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        decoded = decode_text_file(raw)
    escaped = decoded.replace("=", "=3D").replace("\r", "=0D").replace("\n", "=0A")
    return f"{_CHARSET_PARAM.sub('', params)};CHARSET=UTF-8:{escaped}"


def content_lines_shown(text: str, content_type: str, filename: str | None = None) -> str:
    """A calendar entry or contact card unfolded and its quoted-printable values decoded, as its
    reader shows it; any other text as it is."""
    if not is_content_lines(content_type, filename):
        return text
    return _QP_PROPERTY.sub(_qp_value_shown, _FOLD.sub("", text))


def content_line_forms(text: str, content_type: str, filename: str | None = None) -> list[str]:
    """Every reading of a calendar entry or card a trace could hide in: unfolded, and with vCard
    2.1's quoted-printable values decoded ("N;ENCODING=QUOTED-PRINTABLE:=C3=85sa")."""
    if not is_content_lines(content_type, filename):
        return []
    unfolded = _FOLD.sub("", text)
    return [unfolded, content_lines_shown(text, content_type, filename),
            quopri.decodestring(unfolded.encode("utf-8", "replace")).decode("utf-8", "replace")]


# UTF-16 and UTF-32 labels that leave the byte order unsaid (RFC 2781: a BOM, else big-endian;
# browsers and Thunderbird, after the WHATWG Encoding Standard: a BOM, else little-endian).
_WIDE_16 = frozenset({"utf-16", "utf16", "ucs-2", "ucs2", "unicode", "csunicode", "iso-10646-ucs-2"})
_WIDE_32 = frozenset({"utf-32", "utf32", "ucs-4", "ucs4", "csucs4", "iso-10646-ucs-4"})
_ENCODED_WORD = re.compile(r"=\?([^?*\s]+)(\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")


def byte_order_unsaid(charset: str | None) -> bool:
    """Whether a charset label is UTF-16 or UTF-32 without its byte order ("utf-16", not "utf-16le")."""
    return (charset or "").strip().lower() in _WIDE_16 | _WIDE_32


def wide_readings(data: bytes, charset: str) -> list[str]:
    """UTF-16 or UTF-32 text whose label leaves the byte order unsaid, read both ways, the likely
    reading first: a byte order mark decides alone; else the order extraction reads
    (`byte_order.little_endian_likely`). The other reading is also what some reader shows: Python and
    browsers read BOM-less text as little-endian, and Python saw no name in big-endian text."""
    size, orders = (4, ("utf-32-le", "utf-32-be")) if charset.strip().lower() in _WIDE_32 \
        else (2, ("utf-16-le", "utf-16-be"))
    for bom, codec in _BOMS:
        if data.startswith(bom) and codec in orders:
            return [data[len(bom):].decode(codec, errors="replace")]
    likely = orders if little_endian_likely(data, size) else orders[::-1]
    return [data.decode(codec, errors="replace") for codec in likely]


def _wide_words_as_utf8(raw: str, reading: int) -> str:
    """A raw header value with its UTF-16/UTF-32 encoded words re-encoded as UTF-8 ones, in the
    given reading (0: the likely byte order, 1: the other), so every parser reads one text."""
    def as_utf8(match: re.Match[str]) -> str:
        if not byte_order_unsaid(match.group(1)):
            return match.group(0)
        payload = match.group(4)
        try:
            data = binascii.a2b_base64(payload + "==") if match.group(3) in "bB" else \
                quopri.decodestring(payload.encode("ascii"), header=True)
        except (binascii.Error, ValueError):
            return match.group(0)
        readings = wide_readings(data, match.group(1))
        text = readings[min(reading, len(readings) - 1)]
        return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii") + "?="
    return _ENCODED_WORD.sub(as_utf8, raw) if "=?" in raw else raw


def header_other_reading(raw: str) -> str | None:
    """A header value's UTF-16/UTF-32 encoded words in their other byte order, decoded; None
    when it has none."""
    other = _wide_words_as_utf8(raw, 1)
    return _decoded_words(other) if other != _wide_words_as_utf8(raw, 0) else None


def header_shown(part: Message, name: str, raw: str) -> tuple[str, bool]:
    """A header field as a mail client shows it (encoded words decoded), and whether Python's
    parser reads it. A harasser's own header ("To: a@[", "To: undisclosed-recipients:; a@b")
    makes the parser raise AttributeError or IndexError, on reading and on writing alike."""
    raw = _wide_words_as_utf8(raw, 0)
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


# A uuencoded file inside a text part ("begin 644 name" ... "end"): Thunderbird and Outlook show
# it as an attachment, decoded; matching the text saw only its encoded lines.
_UUENCODED = re.compile(r"^begin [0-7]{3,4} ([^\r\n]*)\r?\n(.*?)^end[ \t]*$", re.M | re.S)
# Rich text's escapes ("K\\'69m", "\\u75?"), which Word and WordPad show as letters.
RICH_TEXT_TYPES = frozenset({"text/rtf", "text/richtext", "application/rtf", "text/enriched"})
_RTF_HEX = re.compile(r"\\'([0-9a-fA-F]{2})")
_RTF_UNICODE = re.compile(r"\\u(-?\d{1,6})\s?(?:\\'[0-9a-fA-F]{2}|\?)?")
_RTF_CONTROL = re.compile(r"\\[a-zA-Z]+-?\d*\s?|[{}]")


def uuencoded_files(text: str) -> list[str]:
    """The uuencoded files in a text, decoded as text files (their names first)."""
    found = []
    for match in _UUENCODED.finditer(text):
        data = bytearray()
        for line in match.group(2).splitlines():
            try:
                data += binascii.a2b_uu(line)
            except binascii.Error:
                continue
        found.append(match.group(1) + "\n" + decode_text_file(bytes(data)))
    return found


def without_uuencoded(text: str) -> str:
    """A text with each uuencoded file replaced by a note that it was left out."""
    return _UUENCODED.sub("[a uuencoded file was left out: it cannot be redacted with certainty]", text)


def is_rich_text(content_type: str, filename: str | None = None) -> bool:
    """Whether a part is rich text (RTF, text/enriched), whose escapes its reader shows as letters."""
    return content_type in RICH_TEXT_TYPES or (filename or "").lower().endswith(".rtf")


def rich_text_shown(text: str) -> str:
    """Rich text as its reader shows it, roughly: escapes decoded, control words and braces dropped."""
    text = _RTF_UNICODE.sub(lambda m: chr(int(m.group(1)) % 65536), text)
    text = _RTF_HEX.sub(lambda m: bytes([int(m.group(1), 16)]).decode("cp1252", "replace"), text)
    return _RTF_CONTROL.sub("", text)
