"""The leak guard: the final decoded MIME tree of an outgoing message holds no trace of a reporter.

It runs on the composed bytes, exactly as they will leave, and decodes everything a recipient's
mail client could show: every header (RFC 2047), every text part in any transfer encoding and
charset, HTML with its entities unescaped, attached messages (also when attached as
application/octet-stream .eml), image metadata (EXIF, GPS, XMP, ICC, comments), and the bytes
of any other attachment in UTF-8, Latin-1 and UTF-16. HTML that would load anything from outside
when opened (a tracking pixel telling the harasser the reporter reported) is refused too.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from stopit_mail.errors import StopitError
from stopit_mail.outbound.redact.images import metadata
from stopit_mail.outbound.redact.remote import READ_RECEIPT_FIELDS, loads_remote
from stopit_mail.outbound.redact.shown import (
    byte_order_unsaid,
    content_line_forms,
    decode_text_file,
    header_other_reading,
    header_shown,
    html_forms,
    is_rich_text,
    rich_text_shown,
    uuencoded_files,
    wide_readings,
)
from stopit_mail.outbound.redact.traces import Traces

_FORBIDDEN_IMAGE_BLOCKS = ("exif", "gps", "xmp", "XML:com.adobe.xmp", "comment", "icc_profile", "photoshop")


class LeakFound(StopitError):
    """Outgoing mail would reveal a reporter."""


def _texts_of(part: EmailMessage, depth: int) -> list[tuple[str, str]]:
    """(where, decoded text) for everything visible in this part and below."""
    found = [(f"header {name}", header_shown(part, name, raw)[0]) for name, raw in part.raw_items()]
    found += [(f"header {name} (other byte order)", other) for name, raw in part.raw_items()
              if (other := header_other_reading(raw)) is not None]
    found += [(f"header {name}", "\0read receipt") for name in part.keys() if name.lower() in READ_RECEIPT_FIELDS]
    if depth > 10:
        return found
    content_type = part.get_content_type()
    if part.is_multipart():
        for child in part.iter_parts():
            found += _texts_of(child, depth + 1)  # type: ignore[arg-type]
        return found
    if content_type in ("message/rfc822", "message/global"):
        for inner in part.get_payload():  # type: ignore[union-attr]
            if isinstance(inner, EmailMessage):
                found += _texts_of(inner, depth + 1)
        return found
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    if part.get_content_maintype() == "text":
        try:
            text = part.get_content()
        except (LookupError, ValueError):
            text = data.decode("utf-8", "replace")
        found.append((content_type, text))
        if "\x00" in text or "\ufffd" in text:  # a text file in another charset than labelled
            found.append((f"{content_type} (as a file)", decode_text_file(data, part.get_content_charset())))
        if byte_order_unsaid(part.get_content_charset()):
            found += [(f"{content_type} (byte order)", reading)
                      for reading in wide_readings(data, part.get_content_charset() or "")]
        found += [(content_type + " (unfolded)", form) for form in content_line_forms(text, content_type, part.get_filename())]
        found += [(content_type + " (uuencoded file)", form) for form in uuencoded_files(text)]
        if is_rich_text(content_type, part.get_filename()):
            found.append((content_type + " (rich text)", rich_text_shown(text)))
        if part.get_content_subtype() == "html" or (part.get_filename() or "").lower().endswith((".html", ".htm")):
            found += [(content_type + " (rendered)", form) for form in html_forms(text)]
            if loads_remote(text):
                found.append((f"{content_type} remote content", "\0remote content"))
        return found
    name = (part.get_filename() or "").lower()
    if name.endswith(".eml") or data[:200].lower().startswith((b"from:", b"received:", b"return-path:",
                                                                   b"message-id:", b"date:", b"to:", b"subject:")):
        inner_msg = BytesParser(policy=policy.default).parsebytes(data)
        # Decoded as a message; its raw bytes (base64 lines) are not text a person reads.
        return found + _texts_of(inner_msg, depth + 1)  # type: ignore[arg-type]
    if part.get_content_maintype() == "image":
        # Pixels are re-encoded by redaction; what can name someone is the metadata.
        for block, text in metadata(data).items():
            found.append((f"image metadata {block}", text))
            if block in _FORBIDDEN_IMAGE_BLOCKS:
                found.append((f"image metadata {block}", "\0metadata present"))
        return found
    for encoding in ("utf-8", "latin-1", "utf-16-le", "utf-16-be"):
        found.append((f"{content_type} bytes ({encoding})", data.decode(encoding, "ignore")))
    return found


def _own_count(message: EmailMessage) -> int:
    """How many of `_texts_of(message, 0)`'s first entries are what we wrote: the message's own
    header fields and its first text part (a template, the organisation's name), as opposed to
    the evidence attached below it."""
    if not message.is_multipart():
        return len(_texts_of(message, 0)) if message.get_content_type() == "text/plain" else len(message.items())
    body = next(message.iter_parts(), None)
    own = len(message.items())
    if isinstance(body, EmailMessage) and body.get_content_type() == "text/plain":
        own += len(_texts_of(body, 1))
    return own


def find_leaks(content: bytes, traces: Traces, own_words: frozenset[str] = frozenset()) -> list[str]:
    """Where in this composed message a trace of the reporter (or image metadata) shows.

    `own_words` are the folded words of the text we wrote ourselves (the template, our name):
    in the message's own headers and first text part a reporter's name word among them is no
    trace on its own (every referral says "case"; every Brown University notice says "Brown").
    Attached evidence is searched for every trace."""
    message = BytesParser(policy=policy.default).parsebytes(content)
    assert isinstance(message, EmailMessage)
    texts = _texts_of(message, 0)
    own = _own_count(message) if own_words else 0
    lenient = traces.without_words(set(own_words))
    leaks = []
    for index, (where, text) in enumerate(texts):
        if text == "\0metadata present":
            leaks.append(f"{where}: metadata left in an image")
        elif text == "\0read receipt":
            leaks.append(f"{where}: a read receipt request")
        elif text == "\0remote content":
            leaks.append(f"{where}: it would load from outside when opened")
        elif (lenient if index < own else traces).find(text):
            leaks.append(where)
    return leaks


def check(content: bytes, traces: Traces, own_words: frozenset[str] = frozenset()) -> None:
    """Raise LeakFound naming where (never what) the trace is."""
    leaks = find_leaks(content, traces, own_words)
    if leaks:
        raise LeakFound("refused: the message would reveal the reporter (" + "; ".join(sorted(set(leaks))[:5]) + ")")
