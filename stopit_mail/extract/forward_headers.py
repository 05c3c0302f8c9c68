"""Read the header block of a forwarded message out of a mail body, line by line.

Three shapes exist. Most clients print one "Label: value" line per field (`read_block`),
in the reader's language and in any order, sometimes quoted with "> ", in bold ("*From:*")
or with a tab after the colon. Yahoo glues the whole block onto the separator line
("From: a <a@x>To: b <b@y>Sent: ...Subject: s", `split_glued`). Outlook for Mac writes no
block at all, only an attribution line ('On 28/10/2021 12:46, "A" <a@x> wrote:',
`parse_attribution`). When the labels are in a language we do not know, `infer_block` assigns
fields from what the values look like. Every reader looks at a bounded prefix of each line,
so a multi-megabyte line costs no more than a short one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stopit_mail.extract.forward_addresses import normalise_address
from stopit_mail.extract.forward_patterns import FIELD_LABELS, field_for_label

_LABEL_SPAN = 40  # a label and its colon sit within this many characters of the line start
_MAX_BLOCK_LINES = 40  # no real header block is longer; bounds the work per candidate line
_GLUED_SPAN = 4000
_ATTRIBUTION_SPAN = 400
# A field whose value goes on, indented, on the next line: wrapped recipients, a long subject,
# and a From folded before its address (raw headers pasted from "Show original").
_CONTINUED_FIELDS = ("from", "to", "cc", "subject", "reply_to")
_BLANKISH = " \t\u00a0\u202f\u200b\ufeff"
_NOT_A_LABEL = re.compile(r"[\d@<>/\\=]")


def split_quote(raw: str) -> tuple[int, str]:
    """(quote depth, text) of a line: "> > hi" is (2, "hi"); one space after a marker goes."""
    line = raw[:-1] if raw.endswith("\r") else raw
    index = 0
    while index < len(line) and index < 3 and line[index] == " ":
        index += 1
    depth = 0
    while index < len(line) and line[index] == ">" and depth < 50:
        depth += 1
        index += 1
        lookahead = index
        while lookahead < len(line) and line[lookahead] == " " and lookahead - index < 3:
            lookahead += 1
        if lookahead < len(line) and line[lookahead] == ">":
            index = lookahead
    if depth == 0:
        return 0, line
    if index < len(line) and line[index] == " ":
        index += 1
    return depth, line[index:]


def is_blank(text: str) -> bool:
    """True for a line with nothing visible (spaces, no-break spaces, byte-order marks)."""
    return not text.strip(_BLANKISH)


def split_label(text: str) -> tuple[str, str] | None:
    """("Label", "value") of a "Label: value" line, or None when the line is not shaped so."""
    head = text[:_LABEL_SPAN]
    cut = head.find(":")
    wide = head.find("：")
    if wide >= 0 and (cut < 0 or wide < cut):
        cut = wide
    if cut <= 0:
        return None
    label = head[:cut].strip(_BLANKISH + "*_")
    if not label or len(label) > 30 or _NOT_A_LABEL.search(label):
        return None
    value = text[cut + 1:].lstrip("*").strip(_BLANKISH)
    return label, value


@dataclass
class HeaderBlock:
    """Fields of a forwarded message as printed, and where the block sits in the lines."""

    fields: dict[str, str] = field(default_factory=dict)
    first_line: int = 0
    end_line: int = 0  # index of the first line after the block
    depth: int = 0  # quote depth of the block's lines

    @property
    def has_sender(self) -> bool:
        """True when the block names a sender (address or bare name)."""
        return bool(self.fields.get("from", "").strip())


def _known_field(text: str) -> tuple[str, str] | None:
    parts = split_label(text)
    if parts is None:
        return None
    name = field_for_label(parts[0])
    return (name, parts[1]) if name else None


_ADDRESS_FIELDS = ("from", "to", "cc", "reply_to")


def _open_angle(value: str) -> bool:
    """True when an address field's value stops inside "<...>" (the line was wrapped there)."""
    return value.rfind("<") > value.rfind(">")


def _wrapped_list(block: HeaderBlock, last: str, text: str) -> bool:
    """True when a recipient list ended in a separator and the client wrapped the rest."""
    return last in ("to", "cc") and block.fields.get(last, "").endswith((",", ";")) and "@" in text


def _lone_subject_below(lines: list[str], blank: int, depth: int, block: HeaderBlock) -> bool:
    """A subject line alone between blank lines right under a block that has a sender and no
    subject yet: still the block's (QQ Mail and Foxmail print "主题:" so, below the recipients)."""
    if "subject" in block.fields or "from" not in block.fields or blank + 1 >= len(lines):
        return False
    line_depth, text = split_quote(lines[blank + 1])
    known = _known_field(text) if line_depth == depth else None
    if known is None or known[0] != "subject":
        return False
    after = split_quote(lines[blank + 2])[1] if blank + 2 < len(lines) else ""
    return is_blank(after)


def read_block(lines: list[str], start: int) -> HeaderBlock | None:
    """Read "Label: value" lines with known labels from `start`; None if the first is not one."""
    depth, _ = split_quote(lines[start])
    block = HeaderBlock(first_line=start, depth=depth)
    last = ""
    index = start
    limit = min(len(lines), start + _MAX_BLOCK_LINES)
    while index < limit:
        line_depth, text = split_quote(lines[index])
        if line_depth == depth and is_blank(text) and _lone_subject_below(lines, index, depth, block):
            index += 1  # QQ Mail and Foxmail leave a blank line above the subject
            continue
        if line_depth != depth or is_blank(text):
            break
        known = _known_field(text)
        if known is not None:
            if known[0] != "other" and not block.fields.get(known[0]):
                block.fields[known[0]] = known[1]
            last = known[0]
        elif last and split_label(text) and index + 1 < limit and _known_field(
                split_quote(lines[index + 1])[1]):
            last = "other"  # an unknown label between known ones ("Importance: High")
        elif last in _ADDRESS_FIELDS and _open_angle(block.fields.get(last, "")):
            # Gmail wraps a long From line inside "<...>": the address goes on without a space.
            block.fields[last] = block.fields.get(last, "").rstrip() + text.strip()
        elif last in _CONTINUED_FIELDS and (text[:1] in (" ", "\t") or _wrapped_list(block, last, text)):
            block.fields[last] = f"{block.fields.get(last, '')} {text.strip()}".strip()
        else:
            break
        index += 1
    block.end_line = index
    return block if block.fields else None


def _glued_pattern() -> re.Pattern[str]:
    labels: set[str] = set()
    for name, printed in FIELD_LABELS.items():
        if name == "other":
            continue
        for label in printed:
            labels.update((label, label.upper(), label[:1].upper() + label[1:]))
    alternation = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    bare = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True)
                    if len(label) > 1 and label[0].isupper())
    # A label is followed by a colon; Yahoo drops the colon of some labels ("Dw", "Assunto"),
    # which is accepted only where the label is glued to the previous value.
    return re.compile(rf"(?:(?P<label>{alternation})[ \u00a0]?[:：])|(?:(?<=[^\s:])(?P<bare>{bare})(?= ))")


_GLUED = _glued_pattern()


def split_glued(text: str) -> dict[str, str]:
    """Fields of a header block written on one line; {} unless it starts with a label."""
    head = text[:_GLUED_SPAN].strip(_BLANKISH)
    matches: list[re.Match[str]] = []
    for match in _GLUED.finditer(head):
        if not matches and match.start() != 0:
            return {}
        matches.append(match)
        if field_for_label(match.group("label") or match.group("bare") or "") == "subject":
            break  # the subject comes last and may itself contain "x: y"
    fields: dict[str, str] = {}
    for position, match in enumerate(matches):
        end = matches[position + 1].start() if position + 1 < len(matches) else len(head)
        name = field_for_label(match.group("label") or match.group("bare") or "")
        if name and name != "other":
            fields.setdefault(name, head[match.end():end].strip(_BLANKISH))
    return fields


_YEAR_OR_TIME = re.compile(r"\b(?:19|20)\d\d\b|\b\d{1,2}[:.]\d\d\b")


def infer_block(lines: list[str], start: int) -> HeaderBlock | None:
    """Assign fields to "Label: value" lines by their values, for labels of unknown languages.

    The first value holding an address is the sender, a value with a year or a time is the
    date, later address values are To then Cc, and the first remaining value is the subject.
    """
    depth, _ = split_quote(lines[start])
    block = HeaderBlock(first_line=start, depth=depth)
    index = start
    while index < min(len(lines), start + 12):
        line_depth, text = split_quote(lines[index])
        parts = split_label(text) if line_depth == depth else None
        if parts is None:
            break
        if parts[0].lower().startswith(("content-", "mime-version")):
            return None  # MIME source (a part's own fields), not a header block a client printed
        value = parts[1]
        words = re.split(r"[\s<>\[\](),;]", value[:_LABEL_SPAN * 25])
        has_address = "@" in value and any(normalise_address(word) for word in words)
        if has_address:
            slot = next((s for s in ("from", "to", "cc") if s not in block.fields), "")
        elif "date" not in block.fields and _YEAR_OR_TIME.search(value):
            slot = "date"
        else:
            slot = "subject" if "subject" not in block.fields else ""
        if slot:
            block.fields[slot] = value
        index += 1
    block.end_line = index
    if index - start < 2 or "from" not in block.fields:
        return None
    return block


@dataclass(frozen=True)
class Attribution:
    """What an attribution line ('On <date>, "Name" <addr> wrote:') says."""

    name: str
    address: str
    date: str | None


_ATTRIBUTION_MAILBOX = re.compile(
    r"[<\[(][ \t]*<?(?:mailto:)?([^\s<>()\[\]@]{1,64}@[^\s<>()\[\]]{1,255}?)>?[ \t]*[>\])]")
_CLOSING_QUOTES = {'"': '"', "»": "«", "”": "„“", "'": "'", "“": "„"}
_CLOCK_WORDS = {"am", "pm", "a.m.", "p.m.", "at", "um", "uhr", "à", "a", "o"}


def _quoted_name(before: str) -> tuple[str, str] | None:
    """(name, text before it) when `before` ends with a quoted name ('... "John Doe" ')."""
    text = before.rstrip(_BLANKISH)
    openers = _CLOSING_QUOTES.get(text[-1:]) if text else None
    if not openers:
        return None
    opening = max(text.rfind(opener, 0, len(text) - 1) for opener in openers)
    if opening < 0:
        return None
    return text[opening + 1:-1].strip(_BLANKISH), text[:opening]


def _trailing_name(before: str) -> tuple[str, str]:
    """(name, text before it): the digit-free words just before the address."""
    head, _, segment = before.rpartition(",") if "," in before else ("", "", before)
    words = segment.split()
    cut = len(words)
    while cut > 0 and not any(ch.isdigit() for ch in words[cut - 1]):
        cut -= 1
    name_words = words[cut:]
    # Connectors ("heeft", "időpontban", "użytkownik") are lower-case; names usually are not.
    while len(name_words) > 1 and (name_words[0][:1].islower() or name_words[0].lower() in _CLOCK_WORDS):
        cut += 1
        name_words = name_words[1:]
    rest = " ".join(words[:cut])
    return " ".join(name_words), f"{head}, {rest}" if head else rest


def _date_span(text: str, lead: bool = False) -> str | None:
    """The stretch of `text` from its first to its last digit, with a trailing AM/PM.

    With `lead`, `text` is what an attribution says before the sender ("On Monday, November 16,
    2026, 10:32"): the date then starts after its first word ("On", "Le", "Am", "El"), so that a
    month or weekday written before the first digit is kept ("November 16", not "16")."""
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not digits:
        return None
    start = digits[0]
    if lead:
        first = re.match(r"\s*\S+\s+", text)
        if first and first.end() < start and not any(ch.isdigit() for ch in first.group()):
            start = first.end()
    end = digits[-1] + 1
    tail = re.match(r"\s?(?:[AaPp]\.?[Mm]\.?)(?!\w)", text[end:end + 6])
    if tail:
        end += tail.end()
    return text[start:end].strip(" ,") or None


def parse_attribution(text: str) -> Attribution | None:
    """Read an attribution line; None unless it ends with a colon, names an address and a date."""
    line = text.strip(_BLANKISH)
    if not line or len(line) > _ATTRIBUTION_SPAN or line[-1] not in ":：":
        return None
    match = _ATTRIBUTION_MAILBOX.search(line)
    if match is None or not any(ch.isdigit() for ch in line):
        return None
    address = normalise_address(match.group(1))
    if not address:
        return None
    before, after = line[:match.start()], line[match.end():-1]
    quoted = _quoted_name(before)
    name, rest = quoted if quoted else _trailing_name(before)
    if normalise_address(name) == address:
        name = ""
    return Attribution(name=name, address=address, date=_date_span(rest, lead=True) or _date_span(after))
