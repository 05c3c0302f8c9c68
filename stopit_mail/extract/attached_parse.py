"""The attached originals as the report's one parse already read them, instead of parsing them again.

The slicer (`rfc822_slice`) cuts each attached original out of the report byte for byte, for DKIM;
its fields (From, To, Subject, body) were read by parsing those bytes again, although the email
package had already parsed every message/rfc822 part as a message inside the report. Parsing a
7 KiB report's original a second time cost about a fifth of its extraction (issue 8, "parse once").

The report's parse can stand for a slice only where both read the same bytes the same way, so the
parsed message is taken only when
- the slice is a message/rfc822 (or message/global) part reached through multiparts and
  unencoded message parts only: the email package leaves an attached .eml or an octet-stream as
  a file and reads a base64 message part as text, where the slicer decodes them;
- no header of the report was unfolded before parsing (`mime.unfold_hostile`: the report's copy
  that was parsed is then not the slice's bytes);
- the slicer found nothing odd on the way (a missing closing boundary lets the parser and the
  slicer end a part at different places);
- the parsed message's header names are the slice's, in order (a cheap check that the slicer and
  the parser agree on where the part starts; a leading "From " line, a header line without a
  colon or any other disagreement falls back).
Everything else is parsed from the slice's bytes as before, so the fields never differ.
"""

from __future__ import annotations

import re
from email.message import Message

from stopit_mail.extract import mime
from stopit_mail.extract.rfc822_slice import MESSAGE_TYPES, AttachedOriginal, split_head

# The transfer encodings under which the slicer keeps a part's bytes as they are.
_AS_IS = ("", "7bit", "8bit", "binary")
# A header field's first line: a name (printable ASCII without spaces or colon), then a colon.
_FIELD_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
# Fields whose absence above a blank line, and presence below it, says the header goes on there.
_MAIN_FIELDS = frozenset({b"from", b"to", b"subject", b"date", b"content-type", b"mime-version"})
_MAX_BLANKS_INSIDE = 2
_REPAIR_LOOK = 256 * 1024  # header sections are read within this many bytes


def parsed_originals(parsed: mime.ParsedMessage) -> dict[str, Message]:
    """The messages inside message/rfc822 parts of the report's parse, by the slicer's part paths.

    Empty when the report's parse did not read the report's own bytes (hostile folding unfolded)."""
    if any(defect.startswith("HostileFolding") for defect in parsed.defects):
        return {}
    found: dict[str, Message] = {}
    # (part, path, whether the part is a message's top: its one body part is numbered ".1")
    stack: list[tuple[Message, tuple[int, ...], bool]] = [(parsed.message, (), True)]
    while stack:
        part, path, top = stack.pop()
        try:
            maintype, content_type = part.get_content_maintype(), part.get_content_type()
            payload = part.get_payload()
            encoding = str(part.get("content-transfer-encoding", "7bit")).strip().lower()
        except Exception:  # noqa: BLE001 - a part the email package cannot read: parsed again below
            continue
        if not isinstance(payload, list):
            continue
        if maintype == "multipart":
            stack.extend((child, path + (number,), False) for number, child in enumerate(payload, start=1)
                         if isinstance(child, Message))
        elif content_type in MESSAGE_TYPES and encoding in _AS_IS and len(payload) == 1 \
                and isinstance(payload[0], Message):
            here = path + (1,) if top else path
            found[".".join(map(str, here))] = payload[0]
            stack.append((payload[0], here, True))
    return found


def _header_names(raw: bytes) -> list[bytes]:
    head_end, _body = split_head(raw, 0, len(raw))
    return [line.partition(b":")[0] for line in raw[:head_end].split(b"\n")
            if line.strip(b"\r") and line[:1] not in (b" ", b"\t")]


def _names_of(message: Message) -> list[bytes] | None:
    try:
        return [name.encode("ascii", "surrogateescape") for name in message.keys()]
    except UnicodeEncodeError:
        return None


def parse_original(slc: AttachedOriginal, originals: dict[str, Message]) -> mime.ParsedMessage:
    """The attached original `slc` as parsed: from the report's parse when it read the same bytes,
    else parsed from the slice (see the module's docstring)."""
    message = originals.get(slc.path)
    if (message is not None and not slc.problems and slc.content_type in MESSAGE_TYPES
            and slc.transfer_encoding in _AS_IS and message.get_unixfrom() is None
            and _names_of(message) == _header_names(slc.bytes)):
        defects = [type(defect).__name__ for defect in message.defects]
        if message.get_content_maintype() == "multipart" and not message.is_multipart():
            # What the parser adds to the message it parsed last (`FeedParser.close`), which a
            # message inside another never is.
            defects.append("MultipartInvariantViolationDefect")
        if b"\x00" in slc.bytes:
            defects.append("NulByte")
        return mime.ParsedMessage(message, defects)
    return mime.parse_bytes(slc.bytes)


def _field_name(line: bytes) -> bytes | None:
    match = _FIELD_LINE.match(line)
    return match.group(1).lower() if match else None


def _continues(line: bytes) -> bool:
    return line[:1] in (b" ", b"\t")


def _blank(line: bytes) -> bool:
    return not line.strip(b"\r")


def _fields_below(lines: list[bytes], start: int, seen: set[bytes]) -> int | None:
    """Where the block of header fields starting at `start` ends, if it is one (a field, then
    fields and folds up to a blank line) and brings a main field the header above lacks."""
    names: set[bytes] = set()
    end = start
    while end < len(lines) and not _blank(lines[end]):
        name = _field_name(lines[end])
        if name is None and end == start:  # a block of fields starts with one (later lines may be folds)
            return None
        if name is not None:
            names.add(name)
        end += 1
    return end if end > start and (names & _MAIN_FIELDS) - seen else None


def readable_copy(raw: bytes) -> tuple[bytes, list[str]] | None:
    """A copy of an attached original that the email package reads as its sender's client meant,
    with what was repaired; None when nothing needs repairing. The original bytes are never
    changed (DKIM and the evidence package keep them); only the fields shown are read from this.

    Shapes seen in real attached originals that make the email package lose the sender, subject
    and date, or show the MIME source as the body:
    - a line before the first field: Yahoo's feedback reports start the original with an
      escaped mbox line (">From ..."), which the package takes for the body;
    - a folded line that lost its indentation ("(using TLSv1.3 ...)" under a Received field,
      from a client that rewrapped the headers): the package ends the header section there;
    - a blank line inside the header section: Outlook's attached items put Content-Type and
      MIME-Version after one, and rewrapped headers gain them. The header goes on below a blank
      line only when the lines below are all fields and bring a main one (From, To, Subject,
      Date, Content-Type, MIME-Version) that the header above lacks.
    """
    head = raw[:_REPAIR_LOOK]
    lines = head.split(b"\n")
    notes: list[str] = []
    first = 0
    while first < min(len(lines), 3) and _field_name(lines[first]) is None:
        first += 1
    if first and first < len(lines) and _field_name(lines[first]) is not None:
        notes.append("a line before the header fields was read past")
    else:
        first = 0
    out: list[bytes] = []
    seen: set[bytes] = set()
    index, blanks = first, 0
    while index < len(lines):
        line = lines[index]
        if _blank(line):
            below = _fields_below(lines, index + 1, seen) if blanks < _MAX_BLANKS_INSIDE else None
            if below is None:
                break
            blanks += 1
            notes.append("a blank line inside the header section was read past")
            index += 1
            continue
        name = _field_name(line)
        if name is None and not _continues(line) and out:
            if "a folded header line that lost its indentation was read as a fold" not in notes:
                notes.append("a folded header line that lost its indentation was read as a fold")
            line = b" " + line
        if name is not None:
            seen.add(name)
        out.append(line)
        index += 1
    if not notes:
        return None
    return b"\n".join(out + lines[index:]) + raw[len(head):], notes
