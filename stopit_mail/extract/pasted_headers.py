"""Recover full message headers that a reporter pasted into the body of a report.

Reporting guides (MIT's stopit among them) ask people to paste the "full headers": Gmail's
"Show original", Outlook's "Internet headers" pane, Apple Mail's "All Headers", Yahoo's "View
raw message". The paste survives only as text in the report's body, mangled on the way: quoted
with "> ", long Received/DKIM lines re-wrapped by the mail client so that continuation lines
lose their leading whitespace, blank lines slipped in, Gmail's summary table pasted on top.

A pasted block is a run of lines shaped like RFC 5322 header fields that carries trace
evidence: a Received field, or From together with fields that only a message's source shows
(trace fields, MIME-Version, Content-Type, User-Agent, X-...; two beside a Date, else three),
never a forward's summary: a message saved before any relay saw it has no trace fields. This
module finds such runs, repairs what it safely can, and rebuilds the header block. It never
raises and its work is linear in the size of the body.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from stopit_mail.extract.forward_headers import is_blank, split_quote

__all__ = ["PastedHeaders", "find_pasted_headers"]

log = logging.getLogger(__name__)

# RFC 5322 allows any printable ASCII in a field name; real ones use letters, digits and "-",
# and the narrower form keeps DKIM tag lines ("h=from:to") from passing for fields.
_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9_-]{0,75}):(?!//)")
_TRACE = frozenset({
    "received", "return-path", "dkim-signature", "message-id", "authentication-results",
    "x-originating-ip", "arc-seal", "arc-message-signature", "arc-authentication-results",
    "received-spf", "x-received",
})
# Fields whose long values mail clients wrap: a following line that lost its indentation
# but reads like the rest of such a value is joined back to it.
_WRAPPABLE = frozenset({
    "received", "dkim-signature", "authentication-results", "received-spf", "references",
    "in-reply-to", "list-unsubscribe", "domainkey-signature",
})
_RECEIVED_WORDS = ("by ", "with ", "for ", "id ", "from ", "via ", "(", "[", "envelope-from",
                   "helo", "using ", "(version", "tls", "esmtp")
_DATE_START = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?\s+)?\d{1,2}\s+[A-Z][a-z]{2}\s+\d{4}\s+\d\d:\d\d")
# The date that closes a Received field: "; Mon, 1 Oct 2018 09:49:22" or "; 22 Aug 2016 14:23".
_RECEIVED_END = re.compile(r";\s*(?:[A-Za-z]{3},?\s+)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d\d")
_MAX_RECEIVED_LINES = 40
# Fields a mail client writes into a message but never prints in a forward's summary: with From
# and Date they show a raw header section ("View source" of a message that never crossed a relay,
# a Sent item, a draft), which has no trace fields at all.
_SOURCE_ONLY = frozenset({
    "mime-version", "content-type", "content-transfer-encoding", "user-agent", "in-reply-to",
    "references", "thread-index", "thread-topic", "domainkey-signature", "delivered-to",
}) | _TRACE
_SOURCE_ONLY_PREFIXES = ("x-", "arc-", "list-")
# Gmail's "Show original" summary table: not header fields, though it looks like some.
_GMAIL_SUMMARY = frozenset({"spf", "dkim", "dmarc"})
_SINGLE_WORD_FIELDS = frozenset({
    "received", "from", "to", "cc", "bcc", "date", "subject", "sender", "references",
    "importance", "priority", "precedence", "keywords", "comments", "organization",
})
_RECEIVED_SHAPE = re.compile(r"^(?:from|by|with|\(qmail)\b|;", re.IGNORECASE)
_MAX_BLANKS_INSIDE = 2


@dataclass
class PastedHeaders:
    """A header block recovered from pasted text.

    `header_block` is rebuilt as RFC 5322 text: one field per line, folded lines kept folded
    (a wrapped line that lost its indentation gets one space back), CRLF line ends, ending with
    CRLF. `headers` holds (name, unfolded value) in order. `body_after` is the text that follows
    the block in the paste, to the end of the text or the next block (Gmail's "Show original"
    includes the body), None when there is none. `start_offset` is where the block's first line
    starts in the input. `problems` names the repairs made ("rejoined 3 wrapped line(s)"), so
    that a person weighing the evidence knows the block is not byte for byte what was sent.
    """

    header_block: str
    headers: list[tuple[str, str]]
    body_after: str | None
    start_offset: int
    problems: list[str] = field(default_factory=list)


@dataclass
class _Field:
    name: str
    lines: list[str]  # first line "Name: value", then continuation lines (with indentation)
    line: int = 0  # index of its first line in the body


@dataclass
class _Run:
    depth: int
    first_line: int
    fields: list[_Field] = field(default_factory=list)
    end_line: int = 0  # first line after the run
    repaired: int = 0  # wrapped lines joined back


def _field_name(text: str) -> str | None:
    match = _FIELD.match(text[:80])
    return match.group(1) if match else None


def _continues_wrapped(current: _Field, text: str) -> bool:
    """True when `text` is the rest of the `current` value, wrapped by a mail client."""
    stripped = text.strip()
    if len(current.lines) == 1 and not current.lines[0][len(current.name) + 1:].strip():
        return True  # "Message-ID:" alone on its line: the value was pushed to the next one
    if " " not in stripped and (len(stripped) >= 16 or stripped.startswith((":", "<"))
                                or stripped.endswith(";") or "=" in stripped
                                or len(current.lines[-1]) >= 60):
        return True  # a base64 or token run (DKIM "b=...", "h=...:from:to", "<id@host>")
    name = current.name.lower()
    if name == "received" and len(current.lines) < _MAX_RECEIVED_LINES and not _RECEIVED_END.search(
            " ".join(line.strip() for line in current.lines[-2:])):
        return True  # a Received field ends with "; <date>": until then, nothing else can follow
    if name not in _WRAPPABLE and not name.startswith(("arc-", "x-")):
        return False
    if stripped.lower().startswith(_RECEIVED_WORDS) or _DATE_START.match(stripped):
        return True
    if "=" in stripped and ";" in stripped:
        return True  # a tag list ("d=gmail.com; s=20210112;")
    return stripped[:1].islower() and stripped.endswith((";", ")")) and len(current.lines[-1]) >= 50


def _resumes_header(text: str) -> bool:
    """True when a line after a blank one is a header field rather than the reporter's words.

    "Note: this is the third time" is shaped like a field; real fields after a stray blank
    line are hyphenated ("Received-SPF", "X-MS-...") or one of the common single-word names.
    """
    name = _field_name(text)
    return name is not None and ("-" in name or name.lower() in _SINGLE_WORD_FIELDS)


def _next_visible(lines: list[str], index: int, depth: int) -> str | None:
    """Text of the next non-blank line within a couple of lines, if at `depth`."""
    for position in range(index, min(len(lines), index + _MAX_BLANKS_INSIDE + 1)):
        line_depth, text = split_quote(lines[position])
        if not is_blank(text):
            return text if line_depth == depth else None
    return None


def _read_run(lines: list[str], start: int) -> _Run:
    """Read header-shaped lines from `start`, repairing wraps and skipping stray blank lines."""
    depth, _ = split_quote(lines[start])
    run = _Run(depth=depth, first_line=start)
    index = start
    while index < len(lines):
        line_depth, text = split_quote(lines[index])
        if line_depth != depth:
            break
        text = text.rstrip()
        name = _field_name(text)
        if name is not None:
            run.fields.append(_Field(name, [text], index))
        elif is_blank(text):
            following = _next_visible(lines, index + 1, depth)
            # A blank line inside Outlook's pane is skipped; before the body it ends the block.
            if following is None or not run.fields or not _resumes_header(following):
                break
        elif run.fields and text[:1] in (" ", "\t"):
            run.fields[-1].lines.append(text)
        elif run.fields and _continues_wrapped(run.fields[-1], text):
            run.fields[-1].lines.append(" " + text.strip())
            run.repaired += 1
        else:
            break
        index += 1
    run.end_line = index
    return run


def _drop_gmail_summary(run: _Run) -> None:
    """Remove Gmail's summary table (From/To/Subject/SPF/DKIM/DMARC) from the top of a run."""
    last = -1
    for position, item in enumerate(run.fields[:15]):
        if item.name.lower() in _GMAIL_SUMMARY:
            last = position
    if last >= 0:
        del run.fields[:last + 1]


def _accepted(run: _Run) -> bool:
    """A Received field, or From with source-only fields: two beside a Date, or three."""
    names = {item.name.lower() for item in run.fields}
    # "Received: your letter, thanks" is prose; a trace field says "from ... by ...; date".
    if any(item.name.lower() == "received" and _RECEIVED_SHAPE.search(_unfolded(item))
           for item in run.fields):
        return True
    source = {name for name in names if name in _SOURCE_ONLY or name.startswith(_SOURCE_ONLY_PREFIXES)}
    return "from" in names and len(source) >= (2 if "date" in names else 3)


def _unfolded(item: _Field) -> str:
    """RFC 5322 unfolding: the line breaks go, the whitespace that began each line stays."""
    first = item.lines[0][len(item.name) + 1:]
    return (first + "".join(item.lines[1:])).strip()


def _unquoted(raw: str, levels: int) -> str:
    depth, text = split_quote(raw)
    return text if depth <= levels else ">" * (depth - levels) + " " + text


def _body_after(lines: list[str], run: _Run, stop: int) -> str | None:
    """Text after the block, unquoted to the block's depth; None when only blanks follow."""
    text = "\n".join(_unquoted(raw, run.depth) for raw in lines[run.end_line:stop]).strip()
    return text or None


def _block(lines: list[str], run: _Run, offset: int, stop: int) -> PastedHeaders:
    header_block = "".join(line + "\r\n" for item in run.fields for line in item.lines)
    problems = [f"rejoined {run.repaired} wrapped line(s)"] if run.repaired else []
    return PastedHeaders(
        header_block=header_block,
        headers=[(item.name, _unfolded(item)) for item in run.fields],
        body_after=_body_after(lines, run, stop),
        start_offset=offset,
        problems=problems,
    )


def _runs(lines: list[str]) -> list[tuple[_Run, int]]:
    """Accepted runs with the offset of their first kept field, in order."""
    found: list[tuple[_Run, int]] = []
    offset = 0
    index = 0
    while index < len(lines):
        raw = lines[index]
        if ":" not in raw[:100] or _field_name(split_quote(raw)[1]) is None:
            offset += len(raw) + 1
            index += 1
            continue
        run = _read_run(lines, index)
        _drop_gmail_summary(run)
        if _accepted(run):
            skipped = sum(len(lines[k]) + 1 for k in range(index, run.fields[0].line))
            found.append((run, offset + skipped))
        end = max(run.end_line, index + 1)
        offset += sum(len(lines[k]) + 1 for k in range(index, end))
        index = end
    return found


def find_pasted_headers(body_text: str) -> list[PastedHeaders]:
    """Every pasted header block in `body_text`, in order; [] when there is none."""
    if not isinstance(body_text, str):
        return []
    try:
        lines = body_text.split("\n")
        runs = _runs(lines)
        blocks = []
        for position, (run, offset) in enumerate(runs):
            stop = runs[position + 1][0].first_line if position + 1 < len(runs) else len(lines)
            blocks.append(_block(lines, run, offset, stop))
        return blocks
    except Exception:  # noqa: BLE001 - a parser bug must not lose the report
        log.exception("pasted header extraction failed; treating the body as having none")
        return []
