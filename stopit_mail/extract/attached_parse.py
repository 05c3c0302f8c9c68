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

from email.message import Message

from stopit_mail.extract import mime
from stopit_mail.extract.rfc822_slice import MESSAGE_TYPES, AttachedOriginal, split_head

# The transfer encodings under which the slicer keeps a part's bytes as they are.
_AS_IS = ("", "7bit", "8bit", "binary")


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
