"""Recover every offending message and file from a report.

A report is the reporter's wrapper around evidence. The evidence comes in four shapes, best
first: attached originals (message/rfc822 or an attached .eml: the exact bytes, `full`), headers
the reporter pasted into the body (`headers`), inline forwards (only the fields a mail client
shows, `summary`), and other files such as screenshots (`file`). The wrapper text is kept apart
because it may identify the reporter and must never reach the alleged sender.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from stopit_mail.extract import mime
from stopit_mail.extract.attached_parse import parse_original, parsed_originals, readable_copy
from stopit_mail.extract.attachments import describe_file
from stopit_mail.extract.forward_checks import imitation_reason, thread_notes
from stopit_mail.extract.forwards import InlineForward, find_inline_forwards
from stopit_mail.extract.outlook_msg import MSG_TYPES, MsgContent, looks_like_msg, named_msg, read_msg
from stopit_mail.extract.pasted_headers import PastedHeaders, find_pasted_headers
from stopit_mail.extract.rfc822_slice import slice_attached_messages
from stopit_mail.extract.tnef import looks_like_tnef, read_tnef
from stopit_mail.models import Completeness

_MESSAGE_TYPES = ("message/rfc822", "message/global")
# Reading a hostile .msg of thousands of entries costs about a second (olefile's directory
# checks grow with the square of the entries): a report's worth of them must not stall the worker.
MAX_MSG_PER_REPORT = 20


@dataclass
class EvidenceItem:
    """One recovered message or file, before it is stored."""

    kind: str
    completeness: Completeness
    mime_path: str = ""
    content_type: str | None = None
    filename: str | None = None
    content: bytes | None = None
    from_name: str | None = None
    from_address: str | None = None
    to: list[list[str]] = field(default_factory=list)
    cc: list[list[str]] = field(default_factory=list)
    date: str | None = None
    subject: str | None = None
    message_id: str | None = None
    header_block: str | None = None
    body_text: str | None = None
    problems: list[str] = field(default_factory=list)
    analysis: dict[str, Any] | None = None

    @property
    def sha256(self) -> str | None:
        """Hash of the stored bytes, when there are bytes."""
        return hashlib.sha256(self.content).hexdigest() if self.content is not None else None

    @property
    def is_message(self) -> bool:
        """True for an offending message (as opposed to a file)."""
        return self.completeness is not Completeness.FILE


@dataclass
class Extraction:
    """Everything recovered from one report."""

    reporter_name: str
    reporter_address: str
    subject: str
    message_id: str
    wrapper_text: str
    items: list[EvidenceItem]
    defects: list[str]
    # Which mail client laid out each inline forward ("gmail", "outlook"...), outermost first:
    # the acknowledgement tells the reporter how to send full headers from that client.
    client_hints: list[str] = field(default_factory=list)


def _message_fields(item: EvidenceItem, message: Message, defects: list[str], limits: tuple[int, int]) -> None:
    """Fill the original-message fields of `item` from a parsed message."""
    senders = mime.addresses(message, "From")
    if senders:
        item.from_name, item.from_address = senders[0]
    item.to = [list(p) for p in mime.addresses(message, "To")]
    item.cc = [list(p) for p in mime.addresses(message, "Cc")]
    item.date = mime.header(message, "Date") or None
    item.subject = mime.header(message, "Subject") or None
    item.message_id = mime.header(message, "Message-ID") or None
    item.body_text = mime.body_text(message, limits[0], limits[1], defects)


def _header_block(message: Message) -> str:
    try:
        return "".join(f"{k}: {v}\r\n" for k, v in message.items())
    except Exception:  # noqa: BLE001
        return ""


def _attached_messages(content: bytes, parsed: mime.ParsedMessage, limits: tuple[int, int]) -> list[EvidenceItem]:
    """Attached originals, with their exact bytes sliced from the report; their fields are read
    from the report's parse where it read the same bytes (`attached_parse`), not parsed again."""
    items: list[EvidenceItem] = []
    try:
        body = content[len(mime.UTF8_BOM):] if content.startswith(mime.UTF8_BOM) else content
        slices = slice_attached_messages(body, max_depth=limits[0])
    except Exception as exc:  # noqa: BLE001 - the slicer must not take the report down
        parsed.defects.append(f"SliceFailed: {exc.__class__.__name__}")
        slices = []
    originals = parsed_originals(parsed) if slices else {}
    for slc in slices:
        sub = parse_original(slc, originals)
        repaired = readable_copy(slc.bytes) if _misread(sub) else None
        if repaired is not None:
            sub = mime.parse_bytes(repaired[0])
            sub.defects[:0] = repaired[1]
        item = EvidenceItem(
            kind="attached-message" if slc.content_type in _MESSAGE_TYPES else "attached-eml",
            completeness=Completeness.FULL,
            mime_path=slc.path,
            content_type=slc.content_type,
            filename=slc.filename,
            content=slc.bytes,
            header_block=_header_block(sub.message),
            problems=list(slc.problems) + sub.defects,
        )
        _message_fields(item, sub.message, item.problems, limits)
        items.append(item)
    return items


def _misread(parsed: mime.ParsedMessage) -> bool:
    """The email package's reading of an attached original lost its header (see `readable_copy`)."""
    message = parsed.message
    if "MissingHeaderBodySeparatorDefect" in parsed.defects or not message.keys():
        return True
    if message.get("Content-Type") is not None or message.is_multipart():
        return False
    payload = message.get_payload()
    return isinstance(payload, str) and payload.lstrip("\r\n")[:40].lower().startswith(("content-", "mime-version"))


def _file_items(parsed: mime.ParsedMessage, limits: tuple[int, int]) -> list[EvidenceItem]:
    """Attachments that are not messages: screenshots, video, documents."""
    items: list[EvidenceItem] = []
    outlook_read = 0
    for walked in mime.walk(parsed.message, limits[0], limits[1], parsed.defects):
        part = walked.part
        content_type = part.get_content_type()
        if part.is_multipart() or content_type in _MESSAGE_TYPES or walked.depth == 0:
            continue
        if not mime.is_attachment(part) and content_type.startswith("text/"):
            continue
        filename = mime.decode_header_value(part.get_filename()) or None
        if filename and filename.lower().endswith(".eml"):
            continue  # handled as an attached message by the slicer
        payload = mime.part_bytes(part)
        if looks_like_msg(payload, content_type, filename) and outlook_read < MAX_MSG_PER_REPORT:
            outlook_read += 1
            items.extend(_outlook_items(payload, walked.path, content_type, filename, limits))
            continue
        if looks_like_tnef(payload, content_type, filename) and outlook_read < MAX_MSG_PER_REPORT:
            outlook_read += 1
            items.extend(_tnef_items(payload, walked.path, content_type, filename, limits))
            continue
        facts = describe_file(payload, content_type, filename)
        problems = list(facts.problems)
        if facts.sniffed_type not in (None, content_type):
            problems.append(f"declared type {content_type}")
        if looks_like_msg(payload, content_type, filename):
            problems.append(f"more than {MAX_MSG_PER_REPORT} Outlook .msg files in the report: kept, not read")
        elif named_msg(content_type, filename):
            problems.append("named or typed as an Outlook .msg, but not a Compound File: unreadable .msg")
        items.append(EvidenceItem(
            kind="attachment", completeness=Completeness.FILE, mime_path=walked.path,
            content_type=facts.sniffed_type or content_type, filename=filename, content=payload,
            problems=problems,
        ))
    return items


def _outlook_items(payload: bytes, path: str, content_type: str, filename: str | None,
                   limits: tuple[int, int]) -> list[EvidenceItem]:
    """An attached Outlook .msg: the message at completeness `headers` (its transport headers
    survive, its MIME bytes do not), then the files and Outlook items inside it."""
    item = EvidenceItem(kind="attached-msg", completeness=Completeness.HEADERS, mime_path=path,
                        content_type=content_type, filename=filename, content=payload)
    return _msg_items(read_msg(payload), item, limits)


def _tnef_items(payload: bytes, path: str, content_type: str, filename: str | None,
                limits: tuple[int, int]) -> list[EvidenceItem]:
    """An Outlook winmail.dat: kept as the file it is, followed by the files and Outlook items
    (offending messages forwarded as attachments) inside it. Its own subject and body are the
    reporter's message, already read from the MIME text beside it, so they are not repeated."""
    found = read_tnef(payload)
    found.subject = found.body = ""
    found.header_block = ""
    item = EvidenceItem(kind="attachment", completeness=Completeness.FILE, mime_path=path,
                        content_type=content_type, filename=filename, content=payload)
    items = _msg_items(found, item, limits)
    item.problems.insert(0, f"Outlook TNEF holding {len(found.attachments)} file(s) and "
                            f"{len(found.embedded)} Outlook item(s), each listed after it")
    return items


def _msg_items(found: MsgContent, item: EvidenceItem, limits: tuple[int, int]) -> list[EvidenceItem]:
    """`item` filled from a read .msg, followed by its files and (recursively) embedded items.

    Without transport headers the sender shown by Outlook is not used: for a sent or draft item
    it is the mailbox owner, who may be the reporter."""
    item.header_block = found.header_block or None
    item.problems = list(found.problems)
    if found.header_block:
        parsed = mime.parse_bytes(found.header_block.encode("utf-8", "replace") + b"\r\n")
        _message_fields(item, parsed.message, item.problems, limits)
    else:
        # An embedded item has no bytes of its own to keep as a file: only what Outlook shows.
        item.completeness = Completeness.FILE if item.content is not None else Completeness.SUMMARY
    item.subject = item.subject or found.subject or None
    item.body_text = found.body or item.body_text
    items = [item]
    for number, inner in enumerate(found.attachments, start=1):
        facts = describe_file(inner.content, inner.content_type, inner.filename)
        items.append(EvidenceItem(
            kind="attachment", completeness=Completeness.FILE, mime_path=f"{item.mime_path}/msg.{number}",
            content_type=facts.sniffed_type or inner.content_type, filename=inner.filename,
            content=inner.content, problems=list(facts.problems)))
    for number, embedded in enumerate(found.embedded, start=len(found.attachments) + 1):
        nested = EvidenceItem(kind="attached-msg", completeness=Completeness.HEADERS,
                              mime_path=f"{item.mime_path}/msg.{number}", content_type=MSG_TYPES[0])
        items.extend(_msg_items(embedded, nested, limits))
    return items


def _flatten(forwards: list[InlineForward]) -> list[InlineForward]:
    flat: list[InlineForward] = []
    for fwd in forwards:
        flat.append(fwd)
        flat.extend(_flatten(fwd.nested))
    return flat


def _forward_items(forwards: list[InlineForward]) -> list[EvidenceItem]:
    """Inline forwards in the wrapper body (nested forwards too), as `summary` evidence."""
    items = []
    levels = _flatten(forwards)
    for fwd, note in zip(levels, thread_notes(levels), strict=True):
        items.append(EvidenceItem(
            kind="inline-forward", completeness=Completeness.SUMMARY,
            from_name=fwd.from_.name if fwd.from_ else None,
            from_address=fwd.from_.address.lower() if fwd.from_ and fwd.from_.address else None,
            to=[[a.name, a.address] for a in fwd.to], cc=[[a.name, a.address] for a in fwd.cc],
            date=fwd.date, subject=fwd.subject, body_text=fwd.body, problems=[note] if note else [],
        ))
    return items


_CARRIERS = ("attached-message", "attached-eml", "attached-msg")


def _forwards_inside(items: list[EvidenceItem]) -> list[EvidenceItem]:
    """Inline forwards inside attached originals: a friend's forward of the offending message,
    attached by the reporter, names the offender only in its body. Each becomes `summary`
    evidence like a forward in the report's own text, noted with the message it came in."""
    found: list[EvidenceItem] = []
    for carrier in [item for item in items if item.kind in _CARRIERS and item.body_text]:
        inner = _forward_items(find_inline_forwards(carrier.body_text or "", carrier.subject))
        if not inner:
            continue
        where = f"forwarded inside the attached message from {carrier.from_address or 'an unknown sender'}"
        for item in inner:
            item.mime_path = carrier.mime_path
            item.problems.insert(0, where)
        deepest = inner[-1]
        carrier.problems.append(f"it forwards a message from {deepest.from_address or deepest.from_name or 'an unknown sender'}"
                                ", listed as evidence after it")
        found.extend(inner)
    return found


def _imitated_forward(content: bytes, message: Message, forwards: list[InlineForward],
                      items: list[EvidenceItem], limits: tuple[int, int]) -> EvidenceItem | None:
    """The mail itself as evidence when its forward is an imitation (see forward_checks)."""
    reason = imitation_reason(message, forwards[0]) if forwards else None
    if reason is None:
        return None
    for item in items:
        if item.kind == "inline-forward":
            # The "forwarded" sender is made up (often someone the target trusts): it must not
            # become an alleged sender, so it is kept only in the note.
            claimed = " ".join(x for x in (item.from_name, f"<{item.from_address}>" if item.from_address else "") if x)
            item.problems.append(f"{reason}; its 'From' ({claimed or 'none'}) is only a claim")
            item.from_name = item.from_address = None
    item = EvidenceItem(kind="imitated-forward", completeness=Completeness.FULL, content=content,
                        problems=[reason])
    _message_fields(item, message, item.problems, limits)
    return item


def _pasted_items(blocks: list[PastedHeaders], forwards: list[EvidenceItem],
                  borrowed: EvidenceItem | None) -> list[EvidenceItem]:
    """Pasted header blocks; one that matches an inline forward upgrades it to `headers`.

    `borrowed` is the forward whose subject came from the report's subject (its block printed
    none): a paste without a Subject field shows the original had none, so it keeps none."""
    items = []
    for block in blocks:
        parsed = mime.parse_bytes(block.header_block.encode("utf-8", "replace") + b"\r\n")
        item = EvidenceItem(kind="pasted-headers", completeness=Completeness.HEADERS,
                            header_block=block.header_block)
        _message_fields(item, parsed.message, item.problems, (5, 50))
        item.body_text = block.body_after or None
        twin = _matching_forward(item, forwards)
        if twin is not None:
            twin.completeness = Completeness.HEADERS
            twin.header_block = block.header_block
            # The paste is read as RFC 5322 (folds joined, encoded-words decoded), the forward's
            # lines only as printed: a subject folded below a long signature was not in the block.
            if twin is borrowed or parsed.message.get("Subject") is not None:
                twin.subject = item.subject
            twin.date = item.date or twin.date
            twin.message_id = twin.message_id or item.message_id
            if item.body_text and _starts_inside(twin.body_text, block.header_block):
                twin.body_text = item.body_text  # the forward's "body" began with the paste's other fields
            continue
        items.append(item)
    return items


def _starts_inside(body: str | None, header_block: str) -> bool:
    """True when a forward's body begins with a line of the pasted header block: the forward was
    read from the paste's From/Date/Subject lines, and its body is the rest of the paste."""
    first = (body or "").lstrip().split("\n", 1)[0].strip()[:60]
    return len(first) >= 6 and first in header_block


def _matching_forward(item: EvidenceItem, forwards: list[EvidenceItem]) -> EvidenceItem | None:
    for fwd in forwards:
        if fwd.from_address and fwd.from_address == item.from_address and fwd.header_block is None:
            return fwd
    return None


def _wrapper_text(text: str, forwards: list[InlineForward], pasted: list[PastedHeaders]) -> str:
    """The reporter's own words: the body before the first forward or pasted block."""
    cut = len(text)
    for fwd in forwards:
        pos = text.find(fwd.separator) if fwd.separator else -1
        if pos >= 0:
            cut = min(cut, pos)
    for block in pasted:
        cut = min(cut, block.start_offset)
    return text[:cut].strip()


def extract_evidence(content: bytes, max_depth: int = 20, max_parts: int = 2000,
                     parsed: mime.ParsedMessage | None = None, body: str | None = None) -> Extraction:
    """Recover a report's evidence; problems become defects, never exceptions.

    The pipeline passes the message it already parsed (and its decoded body), so the report is
    parsed once; `content` is still needed to slice attached originals byte for byte.
    """
    parsed = parsed or mime.parse_bytes(content)
    limits = (max_depth, max_parts)
    message = parsed.message
    reporters = mime.addresses(message, "From")
    name, address = reporters[0] if reporters else ("", "")
    subject = mime.header(message, "Subject")
    text = body if body is not None else mime.body_text(message, max_depth, max_parts, parsed.defects)
    found_forwards = find_inline_forwards(text, subject)
    found_pasted = find_pasted_headers(text)
    items = _attached_messages(content, parsed, limits)
    forwards = _forward_items(found_forwards)
    imitation = _imitated_forward(content, message, found_forwards, forwards, limits)
    if imitation is not None:
        items.append(imitation)
    items.extend(forwards)
    borrowed = forwards[0] if found_forwards and found_forwards[0].subject_borrowed else None
    items.extend(_pasted_items(found_pasted, forwards, borrowed))
    items.extend(_file_items(parsed, limits))
    items.extend(_forwards_inside(items))
    wrapper = _wrapper_text(text, found_forwards, found_pasted)
    return Extraction(
        reporter_name=name, reporter_address=address, subject=subject,
        message_id=mime.header(message, "Message-ID"), wrapper_text=wrapper,
        items=items, defects=parsed.defects,
        client_hints=[fwd.client_hint for fwd in found_forwards if fwd.client_hint],
    )
