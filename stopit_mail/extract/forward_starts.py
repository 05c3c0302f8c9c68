"""Decide whether a forwarded message starts on a given line of a body, and how.

Each detector looks at one line (and the few after it) for one kind of cue and says where the
forwarded header ends and its body begins. Which cues are believed is the caller's choice,
passed as a set of `Cue` names; see `forwards.py` for why the forwarding subject decides it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stopit_mail.extract.forward_addresses import parse_sender
from stopit_mail.extract.forward_headers import (
    HeaderBlock,
    infer_block,
    is_blank,
    parse_attribution,
    read_block,
    split_glued,
    split_quote,
)
from stopit_mail.extract.forward_patterns import SeparatorKind, fold, phrase_kind


class Cue:
    """Kinds of evidence that a forward starts on a line.

    Plain strings rather than an Enum: membership is tested on every line of the body.
    """

    FORWARD_SEPARATOR = "forward-separator"  # "Forwarded message", in any known language
    ORIGINAL_SEPARATOR = "original-separator"  # "Original Message", "_____", "-- ?? --" + block
    HEADER_BLOCK = "header-block"  # bare "From: a@x / Date / Subject" block
    NAMES_ONLY_BLOCK = "names-only-block"  # bare block whose sender has no address
    ATTRIBUTION = "attribution"  # 'On <date>, "A" <a@x> wrote:'


# "---- Title ----", possibly followed by Yahoo's glued header block.
_FRAMED = re.compile(r"^([-_=~—─]{2,})\s*(\S.{0,100})\s*[-_=~—─]{2,}(?=\s|$)")
_RULE_MARKS = "-_=~—─"
_HEAD_SPAN = 400
_MAX_BLANKS_BEFORE_BLOCK = 3
_TRIMMED = " \t\u00a0\u202f\ufeff\u200b"


@dataclass
class ForwardStart:
    """Where a forward starts and what introduced it, before its fields are parsed."""

    separator_line: int
    body_line: int
    fields: dict[str, str]
    body_depth: int = 0
    hint: str | None = None
    dedent: bool = False


def _next_visible(lines: list[str], index: int) -> int | None:
    """The first line at or after `index` with visible text, within a few blank lines."""
    for position in range(index, min(len(lines), index + _MAX_BLANKS_BEFORE_BLOCK + 1)):
        if not is_blank(split_quote(lines[position])[1]):
            return position
    return None


def _block_after(lines: list[str], index: int) -> HeaderBlock | None:
    """The header block after a separator, skipping a few blank lines; known labels first."""
    position = _next_visible(lines, index)
    if position is None:
        return None
    return read_block(lines, position) or infer_block(lines, position)


def _after_forward_separator(lines: list[str], index: int, hint: str) -> ForwardStart:
    """What follows a separator that proves a forward: a header block, else what we can get.

    Yandex prints an attribution line instead of a block ('03.04.2023, 10:12, "A" <a@x>:'),
    Lotus Notes a lone mailbox line; a forward with neither is still a forward.
    """
    depth = split_quote(lines[index])[0]
    block = _block_after(lines, index + 1)
    if block is not None:
        return ForwardStart(index, block.end_line, block.fields, block.depth, hint)
    position = _next_visible(lines, index + 1)
    if position is None:
        return ForwardStart(index, index + 1, {}, depth, hint)
    line_depth, text = split_quote(lines[position])
    said = parse_attribution(text)
    if said is not None:
        fields = {"from": f'"{said.name}" <{said.address}>' if said.name else said.address}
        fields.update({"date": said.date} if said.date else {})
        block = _block_after(lines, position + 1)
        if block is not None and block.depth == line_depth:
            fields.update({k: v for k, v in block.fields.items() if k not in fields})
            return ForwardStart(index, block.end_line, fields, line_depth, hint)
        return ForwardStart(index, position + 1, fields, line_depth, hint)
    text = text.strip(_TRIMMED)
    sender = parse_sender(text) if len(text) <= 120 and ":" not in text else None
    if sender is not None and sender.address:
        return ForwardStart(index, position + 1, {"from": text}, line_depth, hint)
    return ForwardStart(index, index + 1, {}, depth, hint)


def _framed_hint(match: re.Match[str], kind: SeparatorKind | None, glued: bool) -> str:
    """Which client family frames a separator so (by its dash count), as a hint only."""
    marks = len(match.group(1))
    spaced = match.group(0)[marks:marks + 1].isspace()
    if glued:
        return "yahoo"
    if kind is SeparatorKind.ORIGINAL:
        return "android" if marks == 8 else "outlook" if not spaced else "generic"
    if kind is SeparatorKind.FORWARD:
        return {10: "gmail", 8: "thunderbird", 7: "proton", 5: "yahoo"}.get(marks, "generic")
    return "generic"


def _from_framed(lines: list[str], index: int, text: str, cues: frozenset[str]) -> ForwardStart | None:
    """A framed separator ("-------- Forwarded Message --------") or a rule line ("_____")."""
    head = text[:_HEAD_SPAN]
    match = None if not head.strip(_RULE_MARKS) else _FRAMED.match(head)
    if match is None and not (len(text) >= 10 and not text.strip(_RULE_MARKS)):
        return None
    title = match.group(2).strip() if match else ""
    kind = phrase_kind(title) if title else None
    cue = Cue.FORWARD_SEPARATOR if kind is SeparatorKind.FORWARD else Cue.ORIGINAL_SEPARATOR
    if cue not in cues:
        return None
    hint = "outlook"
    if match is not None:
        glued = split_glued(text[match.end():]) if head[match.end():].strip() else {}
        hint = _framed_hint(match, kind, bool(glued))
        if glued:
            return ForwardStart(index, index + 1, glued, hint=hint)
    if cue == Cue.FORWARD_SEPARATOR:
        return _after_forward_separator(lines, index, hint)
    block = _block_after(lines, index + 1)
    if block is not None and block.has_sender and (
            kind is SeparatorKind.ORIGINAL or len(block.fields) >= 2):
        return ForwardStart(index, block.end_line, block.fields, block.depth, hint)
    return None


def _from_phrase(lines: list[str], index: int, text: str, cues: frozenset[str]) -> ForwardStart | None:
    """An unframed separator phrase: "Begin forwarded message:", "Forwarded message:"."""
    if len(text) > 80 or Cue.FORWARD_SEPARATOR not in cues:
        return None
    # The phrase ends the line ("Begin forwarded message:") or is the whole line.
    if text[-1] not in ":：" and (":" in text or "：" in text or len(text) > 40):
        return None
    if phrase_kind(text) is not SeparatorKind.FORWARD:
        return None
    hint = "generic" if fold(text).rstrip(":： ") == "forwarded message" else "apple"
    return _after_forward_separator(lines, index, hint)


def _from_attribution(lines: list[str], index: int, text: str, cues: frozenset[str]) -> ForwardStart | None:
    """Outlook for Mac's 'On <date>, "A" <a@x> wrote:' line, when the subject says forward."""
    if Cue.ATTRIBUTION not in cues:
        return None
    said = parse_attribution(text)
    if said is None:
        return None
    fields = {"from": f'"{said.name}" <{said.address}>' if said.name else said.address}
    if said.date:
        fields["date"] = said.date
    depth = split_quote(lines[index])[0]
    position = _next_visible(lines, index + 1)
    if position is not None:
        depth = max(depth, split_quote(lines[position])[0])
    return ForwardStart(index, index + 1, fields, depth, "outlook", dedent=True)


def _from_header_block(
    lines: list[str], index: int, cues: frozenset[str], seen: list[int],
) -> ForwardStart | None:
    """A bare header block (new Outlook): a sender and at least two more fields.

    `seen[0]` is the line up to which a rejected block has already been read: a block
    starting inside it would show a subset of the same fields, so it is not read again.
    This keeps a body of a million "To: x" lines linear.
    """
    if Cue.HEADER_BLOCK not in cues or index < seen[0]:
        return None
    block = read_block(lines, index)
    if block is None:
        return None
    shown = {name for name in block.fields if name in ("date", "subject", "to", "cc")}
    named_only = "@" not in block.fields.get("from", "")
    if not block.has_sender or len(shown) < 2 or (named_only and Cue.NAMES_ONLY_BLOCK not in cues):
        seen[0] = block.end_line
        return None
    return ForwardStart(index, block.end_line, block.fields, block.depth, "outlook")


def find_start(lines: list[str], index: int, cues: frozenset[str], seen: list[int]) -> ForwardStart | None:
    """The forward starting on line `index`, if a cue in `cues` is there.

    `seen` is scan state shared across the lines of one body (see `_from_header_block`).
    """
    raw = lines[index]
    head = raw[:_HEAD_SPAN]
    if ":" not in head and "：" not in head and not any(mark in head[:12] for mark in _RULE_MARKS):
        return None
    _, text = split_quote(raw)
    text = text.strip(_TRIMMED)
    if not text:
        return None
    return (_from_framed(lines, index, text, cues)
            or _from_phrase(lines, index, text, cues)
            or _from_attribution(lines, index, text, cues)
            or _from_header_block(lines, index, cues, seen))
