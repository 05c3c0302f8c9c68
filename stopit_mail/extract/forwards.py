"""Find the original offending message inside an inline forward.

People report harassment by forwarding it, and most clients forward inline: the original
message's sender, date, subject and recipients become a few printed lines in the body,
introduced by a separator. This module finds the first such forward in a body and, inside its
body, the forwards nested in it (a forwarded thread).

Detection is structural and graded by how much a cue proves, because replies look like
forwards: a reply quotes the previous message under "On ... wrote:", "-----Original
Message-----" or an Outlook header block too.

* A separator that says "forwarded" in some language is proof whatever the subject.
* "Original Message", a rule line ("____") or an unknown framed title followed by a header
  block is accepted unless the forwarding subject says reply ("Re:", "AW:", "SV:").
* A bare header block ("From: / Sent: / To: / Subject:") is accepted when the subject says
  forward, or when no subject is known and the block shows the sender's address.
* An attribution line ('On <date>, "A" <a@x> wrote:', Outlook for Mac) is accepted only when the
  subject says forward: on its own it marks a reply.

Everything after a forward's header belongs to its body (that is how clients write them), so
a body holds at most one top-level forward; the earlier messages of a forwarded thread are
found inside it and returned as `nested`. Inputs are never trusted: nothing here raises, and
work is linear in the size of the body (times the nesting depth).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from stopit_mail.extract.forward_addresses import (
    MailAddress,
    parse_mailbox_list,
    parse_sender,
)
from stopit_mail.extract.forward_headers import is_blank, split_quote
from stopit_mail.extract.forward_patterns import (
    END_PHRASES,
    SubjectIntent,
    strip_forward_prefix,
    subject_intent,
)
from stopit_mail.extract.forward_starts import Cue, ForwardStart, find_start
from stopit_mail.extract.mime import decode_words

__all__ = ["InlineForward", "MailAddress", "find_inline_forwards"]

log = logging.getLogger(__name__)


@dataclass
class InlineForward:
    """One forwarded message recovered from text: what its client printed, and its body.

    `start_offset` is where the separator line starts in the text that was searched (for a
    nested forward, its parent's `body`); `preamble` is the text before it, the forwarder's own
    words. `separator` is that line as written, a substring of the searched text.
    """

    from_: MailAddress | None
    to: list[MailAddress]
    cc: list[MailAddress]
    date: str | None
    subject: str | None
    body: str
    separator: str
    client_hint: str | None
    nested: list[InlineForward] = field(default_factory=list)
    reply_to: list[MailAddress] = field(default_factory=list)
    start_offset: int = 0
    preamble: str = ""
    # True when the block printed no Subject line and `subject` came from the forwarding subject.
    subject_borrowed: bool = False


_BELIEVED_WITHOUT_SUBJECT = frozenset(
    {Cue.FORWARD_SEPARATOR, Cue.ORIGINAL_SEPARATOR, Cue.HEADER_BLOCK})
_BELIEVED: dict[SubjectIntent, frozenset[str]] = {
    SubjectIntent.FORWARD: _BELIEVED_WITHOUT_SUBJECT | {Cue.NAMES_ONLY_BLOCK, Cue.ATTRIBUTION},
    SubjectIntent.UNKNOWN: _BELIEVED_WITHOUT_SUBJECT,
    SubjectIntent.OTHER: frozenset({Cue.FORWARD_SEPARATOR, Cue.ORIGINAL_SEPARATOR}),
    SubjectIntent.REPLY: frozenset({Cue.FORWARD_SEPARATOR}),
}
# Inside a forwarded message, earlier messages of the thread are evidence too.
_NESTED = _BELIEVED_WITHOUT_SUBJECT | {Cue.NAMES_ONLY_BLOCK}
_QUOTE_PROBE = 200  # body lines looked at to decide whether the whole body is quoted
_END_MARKER = re.compile(
    r"^[ \t>]*[-_=~]{2,}[ \t]*(?:" + "|".join(re.escape(p) for p in END_PHRASES)
    + r")[ \t]*(?:[-_=~]{2,})?[ \t]*$", re.IGNORECASE | re.MULTILINE)


def _unquote(raw: str, levels: int) -> str:
    depth, text = split_quote(raw)
    if depth <= levels:
        return text
    return ">" * (depth - levels) + " " + text


def _quoted_body_depth(lines: list[str], start: ForwardStart) -> int:
    """The quote depth to remove from a body: deeper than its header when all of it is quoted.

    Missive and some webmails print the header block plain and quote the whole body with "> ".
    Only a body quoted throughout is unquoted, so a body that merely starts with a quotation
    keeps it.
    """
    depths = []
    for raw in lines[start.body_line:start.body_line + _QUOTE_PROBE]:
        depth, text = split_quote(raw)
        if not is_blank(text):
            depths.append(depth)
    deeper = min(depths, default=0)
    return max(start.body_depth, deeper)


def _dedent(parts: list[str]) -> list[str]:
    """Remove the indentation every non-blank line shares (Outlook for Mac indents by 4)."""
    indents = [len(p) - len(p.lstrip(" ")) for p in parts if p.strip()]
    common = min(indents, default=0)
    return [p[common:] for p in parts] if common else parts


def _body(text: str, lines: list[str], start: ForwardStart, offset: int) -> str:
    """The forwarded message's body: everything after its header, unquoted and trimmed."""
    if start.body_line >= len(lines):
        return ""
    depth = _quoted_body_depth(lines, start)
    if depth == 0 and not start.dedent:
        body = text[offset:]
    else:
        parts = [_unquote(lines[k], depth) for k in range(start.body_line, len(lines))]
        body = "\n".join(_dedent(parts) if start.dedent else parts)
    end = _END_MARKER.search(body)
    if end is not None:
        body = body[:end.start()]
    return body.replace("\r\n", "\n").replace("\ufeff", "").strip()


def _forward(text: str, lines: list[str], start: ForwardStart, offset: int, depth_left: int) -> InlineForward:
    """Assemble the forward found at `start` (its separator line begins at `offset`)."""
    separator = lines[start.separator_line].strip(" \t\r\u00a0\ufeff")
    if start.body_line < len(lines) and lines[start.body_line].strip(" \t\r\u00a0\ufeff") == separator:
        start.body_line += 1  # Zoho closes the header block with a copy of the separator
    body_offset = offset + sum(len(lines[k]) + 1 for k in range(start.separator_line, start.body_line))
    body = _body(text, lines, start, body_offset)
    fields = start.fields
    forward = InlineForward(
        from_=parse_sender(fields["from"]) if "from" in fields else None,
        to=parse_mailbox_list(fields.get("to", "")),
        cc=parse_mailbox_list(fields.get("cc", "")),
        date=fields.get("date") or None,
        subject=decode_words(fields["subject"]) if "subject" in fields else None,
        body=body,
        separator=separator,
        client_hint=start.hint,
        reply_to=parse_mailbox_list(fields.get("reply_to", "")),
        start_offset=offset,
        preamble=text[:offset].replace("\r\n", "\n").strip(),
    )
    if depth_left > 1 and body:
        inner = _first_forward(body, _NESTED, depth_left - 1)
        forward.nested = [inner] if inner else []
    return forward


def _first_forward(text: str, cues: frozenset[str], depth_left: int) -> InlineForward | None:
    """The first forward in `text`, with the forwards nested in it."""
    lines = text.split("\n")
    offset = 0
    seen = [0]
    for index, raw in enumerate(lines):
        start = find_start(lines, index, cues, seen) if raw else None
        if start is not None:
            return _forward(text, lines, start, offset, depth_left)
        offset += len(raw) + 1
    return None


def find_inline_forwards(
    body_text: str, forwarding_subject: str | None = None, max_depth: int = 5,
) -> list[InlineForward]:
    """Forwards written inline in `body_text`, outermost first, nested ones in `.nested`.

    `forwarding_subject` is the Subject of the mail that carries the body: "Fwd:"-style
    prefixes let weaker cues count, "Re:"-style prefixes mean only an explicit forward
    separator does (see the module docstring). When the forward's own header block has no
    subject, it is taken from `forwarding_subject` minus its forward prefix. `max_depth`
    bounds how many levels of forwards are returned. Returns [] for text that is no forward.
    """
    if not isinstance(body_text, str) or not isinstance(max_depth, int) or max_depth < 1:
        return []
    try:
        intent = subject_intent(forwarding_subject if isinstance(forwarding_subject, str) else None)
        found = _first_forward(body_text, _BELIEVED[intent], max_depth)
        if found is None:
            return []
        # Only a block that prints no subject at all borrows the forwarding one: an empty
        # "Subject:" line is the original's own empty subject, and the forwarding subject then
        # holds the reporter's words ("Fwd: he keeps writing to me").
        if found.subject is None and intent is SubjectIntent.FORWARD and forwarding_subject:
            found.subject = strip_forward_prefix(forwarding_subject) or None
            found.subject_borrowed = found.subject is not None
        return [found]
    except Exception:  # noqa: BLE001 - a parser bug must not lose the report
        log.exception("inline forward extraction failed; treating the body as no forward")
        return []
