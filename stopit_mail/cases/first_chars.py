"""The characters one of which starts every match of a regular expression, read from its parse.

Triage rules written as regexes with no leading word (most of the Chinese, Japanese and Korean
ones: ``性骚扰|性騷擾|セクハラ|...``) cannot be anchored on the words of a text, so each used to
scan every report in full: a dozen such scans were a quarter of the rules' time on an English
report that contains none of their characters. The set of characters that can begin a match
lets triage skip such a regex with one set comparison. Only a conservative answer is given:
whenever the parse holds something this module does not follow (``.``, ``\\w``, a negated class,
a back reference, a case-insensitive letter, a match that can be empty), the answer is None,
"could start anywhere", and the regex scans as before. Being conservative costs speed, never a
match.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# The standard library's own regex parser: the exact structure `re` compiles (no stubs exist for
# it, hence the untyped import). A Python without it only loses the shortcut (see first_chars).
_parser: Any = importlib.import_module("re._parser")

# A character range longer than this is not spelled out ("could start anywhere" instead).
MAX_RANGE = 512
_ZERO_WIDTH = frozenset({"AT", "ASSERT", "ASSERT_NOT"})
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})


class _Unknown(Exception):
    """The parse holds something whose first characters are not followed here."""


def first_chars(regex: re.Pattern[str]) -> frozenset[str] | None:
    """Characters one of which begins every non-empty match of ``regex``, or None when unknown."""
    try:
        parsed = _parser.parse(regex.pattern, regex.flags)
        chars, nullable = _first(list(parsed))
    except (_Unknown, re.error, AttributeError, TypeError, ValueError):
        return None
    if nullable or not chars:
        return None
    if (regex.flags & re.IGNORECASE or "(?i" in regex.pattern) and any(_cased(c) for c in chars):
        return None  # a cased letter would also match its other cases: not followed
    return frozenset(chars)


def _cased(char: str) -> bool:
    return char.lower() != char or char.upper() != char or char.casefold() != char


def _first(items: list[tuple[Any, Any]]) -> tuple[set[str], bool]:
    """(characters that can begin a match of the sequence, whether it can match empty)."""
    chars: set[str] = set()
    for op, av in items:
        found, nullable = _one(op.name, av)
        chars |= found
        if not nullable:
            return chars, False
    return chars, True


def _one(name: str, av: Any) -> tuple[set[str], bool]:
    if name == "LITERAL":
        return {chr(av)}, False
    if name == "IN":
        return _in(av), False
    if name in _ZERO_WIDTH:
        return set(), True
    if name == "SUBPATTERN":
        return _first(list(av[3]))
    if name == "ATOMIC_GROUP":
        return _first(list(av))
    if name == "BRANCH":
        chars: set[str] = set()
        nullable = False
        for branch in av[1]:
            found, empty = _first(list(branch))
            chars |= found
            nullable = nullable or empty
        return chars, nullable
    if name in _REPEATS:
        found, empty = _first(list(av[2]))
        return found, empty or av[0] == 0
    raise _Unknown(name)


def _in(items: list[tuple[Any, Any]]) -> set[str]:
    chars: set[str] = set()
    for op, av in items:
        if op.name == "LITERAL":
            chars.add(chr(av))
        elif op.name == "RANGE" and av[1] - av[0] < MAX_RANGE:
            chars.update(chr(code) for code in range(av[0], av[1] + 1))
        else:
            raise _Unknown(op.name)  # a negated class, a category (\w, \s), a long range
    return chars
