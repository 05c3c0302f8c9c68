"""Text normalisation and the small pattern language used by the triage rules.

Reports are written by frightened teenagers on phones: mixed case, missing or extra accents,
curly apostrophes, hard-wrapped e-mail lines, "k1ll" spellings. Rules are written once, by
people, in plain words. This module brings both to the same form so that a rule saying
"matarme" also finds "MÁTARME" and "mátarme", and it keeps a map back to the original text so
that every decision can quote the exact words that triggered it.

Normalisation is per character (case-fold, compatibility decomposition, accents dropped,
apostrophes and zero-width characters removed) followed by a light, length-preserving leetspeak
repair of digits sandwiched between letters ("k1ll" -> "kill", "su1c1de" -> "suicide").
Whitespace runs and punctuation are not rewritten; instead the phrase patterns accept any run of
separators between words, which also covers e-mail line wrapping and "> " quote markers.

Phrase syntax (after the same normalisation as the text):
  * words are matched whole: "kill you" does not match inside "skill your";
  * a word ending in ``*`` matches any continuation: "suicid*" matches "suicide", "suicidal";
  * ``...`` stands for up to ``GAP_WORDS`` intervening words: "bring ... gun" matches
    "bring his dad's gun";
  * anything else that is not a letter or digit (hyphens, commas) only separates words.
A pattern starting with ``re:`` is a Python regular expression run on the normalised text
(lower case, no accents, no apostrophes) with IGNORECASE.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise

from stopit_mail.cases.first_chars import first_chars

__all__ = [
    "AnchorIndex",
    "GAP_WORDS",
    "compile_alternation",
    "compile_pattern",
    "NormalisedText",
    "PhraseError",
    "is_regex",
    "normalise",
    "phrase_to_regex",
    "phrase_anchor",
    "regex_anchors",
    "regex_source",
]

# How many words "..." may skip; small enough that unrelated sentences rarely join up.
GAP_WORDS = 4

# Characters removed outright: apostrophes (so "don't", "dont" and "don’t" agree) and invisible
# characters sometimes used to dodge keyword filters.
_DROPPED = frozenset("'\u2019\u2018\u02bc\u0060\u00b4\u200b\u200c\u200d\u2060\ufeff\u00ad")

# Leetspeak digits/symbols that stand for letters when sandwiched between letters.
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_LEET_RE = re.compile(r"(?<=[^\W\d_])[013457@$](?=[^\W\d_])")

# Words are runs of letters/digits; a sentence end stops phrases and gaps from running on.
_SEP = r"[^\w.!?]+"
_WORD = r"\w+"
_PHRASE_TOKEN_RE = re.compile(r"\.\.\.|\w+\*?")
_TEXT_WORD_RE = re.compile(r"\w+")


class _CharTable(dict[int, str]):
    """A str.translate table that computes (and remembers) each character's mapping on demand.

    Using str.translate keeps the per-character work in C; only the first sighting of a given
    code point costs a Python call.
    """

    def __missing__(self, codepoint: int) -> str:
        mapped = _map_char(chr(codepoint))
        self[codepoint] = mapped
        return mapped


def _map_char(ch: str) -> str:
    if ch in _DROPPED:
        return ""
    decomposed = unicodedata.normalize("NFKD", ch.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_TABLE = _CharTable()


@dataclass
class NormalisedText:
    """The normalised form of a text plus the means to map its positions back to the original."""

    original: str
    text: str
    _map: _OffsetMap | None = field(default=None, repr=False)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Return the original-text span that produced normalised [start, end) (end > start)."""
        if self._map is None:
            self._map = _OffsetMap.build(self.original)
        last = max(start, end - 1)
        return self._map.to_original(start), self._map.to_original(last) + 1


@dataclass
class _OffsetMap:
    """Positions of the few characters whose normalised form is not exactly one character.

    Most characters (accented letters included) map to one character, so offsets only shift at
    dropped apostrophes, combining marks and expansions such as "ß" -> "ss". Recording just those
    keeps mapping cheap even for a megabyte of text.
    """

    norm_starts: list[int]
    orig_index: list[int]
    widths: list[int]
    shift_after: list[int]

    @classmethod
    def build(cls, original: str) -> _OffsetMap:
        odd = [c for c in set(original) if len(_TABLE[ord(c)]) != 1]
        result = cls([], [], [], [])
        if not odd:
            return result
        shift = 0
        finder = re.compile("[" + "".join(re.escape(c) for c in odd) + "]")
        for hit in finder.finditer(original):
            width = len(_TABLE[ord(hit.group())])
            result.norm_starts.append(hit.start() + shift)
            result.orig_index.append(hit.start())
            result.widths.append(width)
            shift += width - 1
            result.shift_after.append(shift)
        return result

    def to_original(self, pos: int) -> int:
        k = bisect_right(self.norm_starts, pos) - 1
        # Several zero-width characters can share a start; the last one decides the shift.
        if k < 0:
            return pos
        if pos < self.norm_starts[k] + self.widths[k]:
            return self.orig_index[k]
        return pos - self.shift_after[k]


def _leet(match: re.Match[str]) -> str:
    return _LEET[match.group()]


def normalise(text: str) -> NormalisedText:
    """Normalise ``text`` for matching; never raises for any str input."""
    folded = text.translate(_TABLE)
    return NormalisedText(original=text, text=_LEET_RE.sub(_leet, folded))


class PhraseError(ValueError):
    """A phrase pattern that cannot be turned into a matcher (e.g. it contains no words)."""


def _phrase_tokens(phrase: str) -> list[str]:
    tokens = _PHRASE_TOKEN_RE.findall(normalise(phrase).text)
    if not any(t != "..." for t in tokens):
        raise PhraseError("contains no letters or digits to match")
    if tokens[0] == "..." or tokens[-1] == "...":
        raise PhraseError('"..." may only stand between two words')
    return tokens


def phrase_to_regex(phrase: str) -> str:
    """Translate a phrase pattern into a regular expression over normalised text.

    The expression starts with the first word's literal text and only then checks the word
    boundary behind it: a literal prefix lets the re engine skip ahead with a fast string search
    instead of trying every position (about forty times faster on a typical report).
    """
    parts: list[str] = []
    for token in _phrase_tokens(phrase):
        if token == "...":
            # Bounded, and separators and words are disjoint classes: no catastrophic backtracking.
            parts.append(f"(?:{_SEP}{_WORD}){{0,{GAP_WORDS}}}")
            continue
        word = re.escape(token.rstrip("*"))
        if not parts:
            word += rf"(?<!\w{word})"
        else:
            parts.append(_SEP)
        parts.append(word + (r"\w*" if token.endswith("*") else ""))
    return "".join(parts) + r"(?!\w)"


def phrase_anchor(phrase: str) -> tuple[str, bool]:
    """Return a literal that must occur in any text the phrase matches, and whether it is a prefix.

    A whole word is preferred (a set lookup); a wildcard word gives a prefix (a substring test).
    """
    tokens = [t for t in _phrase_tokens(phrase) if t != "..."]
    whole = [t for t in tokens if not t.endswith("*")]
    if whole:
        return max(whole, key=len), False
    return max((t.rstrip("*") for t in tokens), key=len), True


_REGEX_WORD_START = "\\b"
_LITERAL_RE = re.compile(r"[a-z0-9]+")


def regex_anchors(pattern: str) -> tuple[str, ...]:
    """Word prefixes, one of which starts a word in any text the ``re:`` pattern matches.

    Only the common shapes are understood: ``\\bword...`` and ``\\b(?:word1|word2...)...``,
    where every alternative begins with at least two literal letters or digits, or itself with
    such a group (``\\b(?:(?:going|gonna)\\s+to|will\\s+)kill``). Anything else (a top-level
    ``|``, an optional first group, an escape first...) gives ``()``, meaning "no anchor: always
    run". The result only lets triage skip a regex that cannot match, so being conservative
    costs speed, never a match.
    """
    source = regex_source(pattern[len(REGEX_PREFIX):])
    if not source.startswith(_REGEX_WORD_START) or _has_top_level_bar(source):
        return ()
    anchors = _leading_words(source[len(_REGEX_WORD_START):])
    return tuple(sorted(set(anchors))) if anchors else ()


def _leading_words(rest: str) -> list[str] | None:
    """The literal word prefixes one of which begins any match of ``rest`` (None: not known).

    A first group that is not quantified is read alternative by alternative, and an alternative
    that begins with such a group in turn (so a regex of nested word lists is anchored too)."""
    if rest.startswith("(?:"):
        end = _group_end(rest, 0)
        if end is None or rest[end + 1:end + 2] in ("?", "*", "{"):
            return None
        alternatives = _split_top_level(rest[3:end])
    else:
        alternatives = [rest]
    anchors: list[str] = []
    for alternative in alternatives:
        if alternative.startswith("(?:"):
            nested = _leading_words(alternative)
            if nested is None:
                return None
            anchors.extend(nested)
            continue
        literal = _LITERAL_RE.match(alternative.lower())
        if literal is None:
            return None
        word = literal.group()
        # "lots?" or "x{0,1}": the last letter is optional, so only the letters before it count.
        if alternative[len(word):len(word) + 1] in ("?", "*", "{"):
            word = word[:-1]
        if len(word) < 2:
            return None
        anchors.append(word)
    return anchors


def _skip_class(source: str, i: int) -> int:
    """Index just past the character class that starts at ``source[i] == "["``."""
    j = i + 1
    if source[j:j + 1] == "^":
        j += 1
    if source[j:j + 1] == "]":
        j += 1
    while j < len(source) and source[j] != "]":
        j += 2 if source[j] == "\\" else 1
    return j + 1


def _scan(source: str, start: int) -> Iterator[tuple[int, str, int]]:
    """Yield (index, char, depth) for the structural characters of a regex, skipping escapes
    and character classes; depth counts open groups before the character."""
    depth, i = 0, start
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _skip_class(source, i)
            continue
        if c == ")":
            depth -= 1
        yield i, c, depth
        if c == "(":
            depth += 1
        i += 1


def _has_top_level_bar(source: str) -> bool:
    return any(c == "|" and depth == 0 for _, c, depth in _scan(source, 0))


def _group_end(source: str, start: int) -> int | None:
    """Index of the ")" closing the group opened at ``source[start]``."""
    for i, c, depth in _scan(source, start):
        if c == ")" and depth == 0:
            return i
    return None


def _split_top_level(body: str) -> list[str]:
    cuts = [i for i, c, depth in _scan(body, 0) if c == "|" and depth == 0]
    bounds = [-1, *cuts, len(body)]
    return [body[a + 1:b] for a, b in pairwise(bounds)]


def regex_source(pattern: str) -> str:
    """Prepare a user regex for normalised text: drop accents and apostrophes it could never meet."""
    return pattern.translate(_TABLE_FOR_REGEX)


class _RegexTable(dict[int, str]):
    """Like _CharTable but without case-folding, which would corrupt escapes such as ``\\S``."""

    def __missing__(self, codepoint: int) -> str:
        ch = chr(codepoint)
        if ch in _DROPPED:
            mapped = ""
        else:
            decomposed = unicodedata.normalize("NFKD", ch)
            mapped = "".join(c for c in decomposed if not unicodedata.combining(c))
        self[codepoint] = mapped
        return mapped


_TABLE_FOR_REGEX = _RegexTable()


REGEX_PREFIX = "re:"


def is_regex(pattern: str) -> bool:
    """Whether ``pattern`` is a raw regular expression rather than a phrase."""
    return pattern.startswith(REGEX_PREFIX)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile one phrase or ``re:`` pattern; raises PhraseError or re.error when invalid."""
    if is_regex(pattern):
        return re.compile(regex_source(pattern[len(REGEX_PREFIX):]), re.IGNORECASE)
    # Phrases see text that is already case-folded; IGNORECASE would only slow them down.
    return re.compile(phrase_to_regex(pattern))


def compile_alternation(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching any of ``patterns`` (None when there are none)."""
    if not patterns:
        return None
    # Only user regexes need IGNORECASE (scoped to them), so the phrase branches keep their
    # literal prefixes and the engine can skip ahead quickly.
    sources = [f"(?i:{compile_pattern(p).pattern})" if is_regex(p) else compile_pattern(p).pattern
               for p in patterns]
    return re.compile("|".join(f"(?:{s})" for s in sources))


# How many distinct text words an index remembers what they select (then it starts again).
MAX_REMEMBERED_WORDS = 50_000
MAX_REMEMBERED_WORD_CHARS = 40


class AnchorIndex:
    """Which patterns could match a normalised text, found from the words in it.

    A phrase is indexed by its longest whole word (one set lookup per text word) or, when all
    its words are wildcards, by a word prefix. A regex starting with known words
    (``\\b(?:took|swallow\\w*)...``, see ``regex_anchors``) can only match where such a word
    starts, so it is tried only at those positions: a regex without a literal prefix costs a
    scan of the whole text, about fifty times dearer on a 2 KB report. Regexes of other shapes
    scan every text. Prefixes are keyed by their first two letters (one, for a one-letter
    prefix), so each text word finds the few it could start with in one or two lookups.
    """

    def __init__(self) -> None:
        self._by_word: dict[str, list[int]] = {}
        # key letters -> prefix -> (keys to scan the text with, regex keys to try at word starts)
        self._by_prefix: dict[str, dict[str, tuple[list[int], list[int]]]] = {}
        self._always: list[int] = []
        # Unanchored regexes' possible first characters: one the text lacks skips the scan.
        self._always_first: dict[int, frozenset[str]] = {}
        # text word -> what it selects (keys to scan with, regex keys to try where it starts):
        # a report's words are mostly words seen before, so each is looked up once per process.
        self._selected: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def add(self, pattern: str, key: int) -> None:
        """Index ``pattern`` (a phrase or ``re:`` regex) under the caller's ``key``."""
        self._selected.clear()
        if is_regex(pattern):
            anchors = regex_anchors(pattern)
            if not anchors:
                self._always.append(key)
                starts = first_chars(compile_pattern(pattern))
                if starts is not None:
                    self._always_first[key] = starts
            for prefix in anchors:
                self._prefix_entry(prefix)[1].append(key)
            return
        anchor, is_prefix = phrase_anchor(pattern)
        if is_prefix:
            self._prefix_entry(anchor)[0].append(key)
        else:
            self._by_word.setdefault(anchor, []).append(key)

    def _prefix_entry(self, prefix: str) -> tuple[list[int], list[int]]:
        return self._by_prefix.setdefault(prefix[:2], {}).setdefault(prefix, ([], []))

    def candidates(self, text: str) -> tuple[set[int], dict[int, list[int]]]:
        """Keys of patterns to search all of ``text`` with, and keys of regexes with the word
        starts to try them at. Every pattern that can match ``text`` is among them."""
        starts: dict[str, list[int]] = {}
        for found in _TEXT_WORD_RE.finditer(text):
            starts.setdefault(found.group(), []).append(found.start())
        present = set(text) if self._always_first else set()
        scan = {key for key in self._always
                if key not in self._always_first or not self._always_first[key].isdisjoint(present)}
        at: dict[int, list[int]] = {}
        selected = self._selected
        for word, positions in starts.items():
            chosen = selected.get(word)
            if chosen is None:
                chosen = self._select(word)
                if len(word) <= MAX_REMEMBERED_WORD_CHARS:  # a hostile run of letters is not kept
                    if len(selected) >= MAX_REMEMBERED_WORDS:
                        selected.clear()
                    selected[word] = chosen
            scan.update(chosen[0])
            for key in chosen[1]:
                at.setdefault(key, []).extend(positions)
        return scan, at

    def _select(self, word: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The keys one text word selects: to scan the text with, and to try where it starts."""
        scan = list(self._by_word.get(word, ()))
        at: list[int] = []
        for letters in {word[:1], word[:2]}:
            for prefix, (scan_keys, at_keys) in self._by_prefix.get(letters, {}).items():
                if word.startswith(prefix):
                    scan.extend(scan_keys)
                    at.extend(at_keys)
        return tuple(scan), tuple(at)
