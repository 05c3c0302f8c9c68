"""The lexical layer of the Received parser: unfolding, splitting off the date,
tokens and clauses.

A Received field is read as a sequence of words, ``(comments)``, ``[literals]``,
``<addresses>`` and ``"quoted strings"``, then grouped under the RFC 5321
clause keywords (``from``, ``by``, ``via``, ``with``, ``id``, ``for``).
:mod:`stopit_mail.headers.received` interprets the clauses; this module only
cuts the text up, and never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = ("from", "by", "via", "with", "id", "for")
#: Real Received fields are well under 2 KiB; the cap keeps hostile input from
#: making the regular expressions of the parser slow.
MAX_PARSED = 16384
_FOLD = re.compile(r"\r?\n[ \t]+")
_FIELD_NAME = re.compile(r"^\s*received\s*:", re.I)


@dataclass(slots=True)
class Token:
    """One lexical unit; ``text`` is without its brackets or quotes."""

    kind: str  # "word", "comment", "literal", "angle", "quoted"
    text: str


# The tokeniser and date splitter below scan with regular expressions instead of
# stepping through characters in Python: they run on every hop of every message,
# and the character loops were most of the trace's cost.
_PAREN_SCAN = re.compile(r"\\.|[()]", re.S)  # an escaped character, or a parenthesis
# One match per token, with the separators before it (a stray ")" among them, so
# the scan always advances). A comment with no parenthesis or backslash inside (nearly
# all of them) is read whole here; any other "(" is only found here: its nested end
# is found by _closing_paren. "[...]", "<...>" and "..." run to their first closer or, when
# there is none, to the end of the text. Only trailing separators match no group.
_TOKEN = re.compile(r"""[\s;,)]*
    (?: \((?P<flat>[^()\\]*)\)
      | (?P<comment>\()
      | \[(?P<literal>[^\]]*)\]?
      | <(?P<angle>[^>]*)>?
      | "(?P<quoted>[^"]*)"?
      | (?P<word>[^\s()\[;<"]+) )?""", re.X)
_DATE_SCAN = re.compile(r"[();]")


def _closing_paren(text: str, start: int) -> int:
    """Index just past the parenthesis closing the one at ``start`` (or len).

    A backslash escapes the character after it, as in RFC 5322 comments.
    """
    depth = 0
    for match in _PAREN_SCAN.finditer(text, start):
        char = match.group()
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return match.end()
    return len(text)


def tokenise(text: str) -> list[Token]:
    """Split the clause part into words, comments, literals and addresses."""
    tokens: list[Token] = []
    i = 0
    length = len(text)
    # One pass of finditer over the text; it is restarted only after a comment whose end
    # _closing_paren finds (nested, escaped or unclosed). Every match is non-empty except
    # the last: at any position before the end there is a separator or a token's start.
    while i < length:
        for match in _TOKEN.finditer(text, i):
            kind = match.lastgroup
            if kind == "comment":
                start = match.start(kind)
                end = _closing_paren(text, start)
                closed = text[end - 1:end] == ")"
                tokens.append(Token(kind, text[start + 1:end - 1] if closed else text[start + 1:]))
                i = end
                break
            if kind == "word":
                tokens.append(Token(kind, match.group(kind).rstrip(",")))
            elif kind == "flat":
                tokens.append(Token("comment", match.group(kind)))
            elif kind is not None:
                tokens.append(Token(kind, match.group(kind)))
        else:
            break
    return tokens


def split_date(text: str) -> tuple[str, str | None]:
    """Split at the last ``;`` outside comments; None when there is no ``;``."""
    depth = 0
    last = -1
    for match in _DATE_SCAN.finditer(text):
        ch = match.group()
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            last = match.start()
    if last < 0:
        last = text.rfind(";")
    if last < 0:
        return text, None
    return text[:last], text[last + 1:]


def group_clauses(tokens: list[Token]) -> tuple[dict[str, list[Token]], list[Token]]:
    """Group tokens under the clause keyword before them.

    Tokens before any keyword land under ``""``. A keyword repeated later (qmail
    scanner's ``by uid 89``) does not replace the first clause; its tokens go to
    the second return value, as extras.
    """
    clauses: dict[str, list[Token]] = {"": []}
    extras: list[Token] = []
    current: list[Token] = clauses[""]
    for token in tokens:
        word = token.text.lower() if token.kind == "word" else ""
        if word in KEYWORDS:
            if word in clauses:
                current = extras
            else:
                current = clauses.setdefault(word, [])
            continue
        current.append(token)
    return clauses, extras


def words_of(tokens: list[Token]) -> str | None:
    """The words and quoted strings of a clause, joined; None when there are none."""
    text = " ".join(t.text for t in tokens if t.kind in ("word", "quoted")).strip()
    return text or None


def first_value(tokens: list[Token]) -> str | None:
    """The first word, address, quoted string or literal of a clause, unbracketed."""
    for token in tokens:
        if token.kind in ("word", "angle", "quoted", "literal"):
            value = token.text.strip().strip("<>").strip()
            return value or None
    return None


def unfold(value: str) -> str:
    """The field value on one line: folds, NULs and runs of whitespace become one
    space, a leading ``Received:`` is dropped, and only the first MAX_PARSED
    characters are kept."""
    text = value[:MAX_PARSED].replace("\x00", " ")
    text = _FOLD.sub(" ", text)
    text = _FIELD_NAME.sub("", text)
    return " ".join(text.split())
