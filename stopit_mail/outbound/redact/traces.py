"""What identifies a reporter, and how to find it in decoded text whatever its form.

Text is compared after Unicode compatibility folding, case folding and accent stripping, so
"ZOË", "zoe" and "Zoë" are one name. An address matches with or without a +tag, with its domain
in Unicode or punycode (IDN), and its local part on its own ("sasha.quinn" in a signature).
Every word of a name of three letters or more matches on its own, so re-ordered ("Quinn,
Sasha"), folded (a line break between the words) or partial ("Hi Sasha") names are caught.
Letters of another script that look like Latin ones (Cyrillic "а", Greek "Ρ", small capitals
"ɪ") are read as the Latin letter they show, from Unicode's confusables data (UTS #39, shipped
offline in confusable-homoglyphs): "Kіm Pаrk" with a Cyrillic і and а reads "Kim Park".
Over-redaction is the safe side: a bystander's identical first name is blanked too.
"""

from __future__ import annotations

import json
import re
import unicodedata
import urllib.parse
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from itertools import accumulate

REDACTED = "[reporter]"
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_WRITTEN_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:/]+@[^\s<>()\[\]\"',;:/]+\.[^\W_]{2,}", re.UNICODE)


def written_addresses(text: str) -> list[str]:
    """Addresses written out in free text (a signature, "write to me at ..."), in order, once each."""
    found: list[str] = []
    for address in _WRITTEN_ADDRESS.findall(text or ""):
        address = address.strip(".")
        if address not in found:
            found.append(address)
    return found


_DELIVERY_FIELD = re.compile(r"^(?:delivered-to|x-original-to|envelope-to|x-envelope-to|x-delivered-to|x-rcpt-to|"
                             r"x-apparently-to|original-recipient|x-resolved-to)[ \t]*:(.*)$", re.I | re.M)
_RECEIVED_FOR = re.compile(r"^received[ \t]*:.*?\bfor\s+<?([^\s<>;]+@[^\s<>;]+?)>?(?=[;\s]|$)", re.I | re.M)
_SIGNATURE_LINES = 8


def delivery_addresses(header_block: str) -> list[str]:
    """The mailboxes a message's header block says it was delivered to (Delivered-To,
    X-Original-To, Envelope-To, a Received "for <...>"), in order, once each. Mail that reached a
    reporter by Bcc names them only there: these are their addresses as likely as its To."""
    text = re.sub(r"\r?\n[ \t]+", " ", header_block or "")
    found: list[str] = []
    for address in [a for value in _DELIVERY_FIELD.findall(text) for a in written_addresses(value)] + \
            _RECEIVED_FOR.findall(text):
        address = address.strip(".").lower()
        if address not in found:
            found.append(address)
    return found


def signature_lines(text: str) -> list[str]:
    """The lines of the signature block under a "-- " delimiter (RFC 3676), where a mail client
    signs for its user: name, class or room, phone. They identify whoever wrote the text."""
    lines = (text or "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "--"), None)
    if start is None:
        return []
    found: list[str] = []
    for line in lines[start + 1:]:
        if line.startswith(">") or line.startswith("-----") or len(found) >= _SIGNATURE_LINES:
            break
        if len(line.strip()) >= 6:
            found.append(line.strip())
    return found


def name_words(text: str) -> set[str]:
    """The folded words of three letters or more in `text`: how a name is looked for word by word."""
    return {fold(w) for w in _WORD.findall(text or "")}


def fold(text: str, drop_invisible: bool = True) -> str:
    """NFKC, case-folded, accents and invisible format characters removed: the form every
    comparison uses (a zero-width space or soft hyphen inside a name is shown as the name).
    `drop_invisible=False` keeps them, as word breaks (a zero-width non-joiner between words)."""
    composed = unicodedata.normalize("NFKC", text)
    if not composed.isascii():  # a capital's lookalike first (Greek "Η" is "H"; its small "η" is no "h")
        composed = composed.translate(_lookalike_table())
    decomposed = unicodedata.normalize("NFKD", composed.casefold())
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if not kept.isascii():
        kept = kept.translate(_lookalike_table())
    return _visible(kept) if drop_invisible else kept


@cache
def _lookalike_table() -> dict[int, str]:
    """Every non-ASCII letter Unicode lists as confusable with one ASCII letter (Cyrillic "а" and
    "р", Greek "Ο", Cherokee "Ꮇ", small capital "ɪ"), mapped to that letter: a name spelled with
    them shows as the name. ASCII itself is left alone ("l" and "I", "0" and "O" stay apart)."""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    table: dict[int, str] = {}
    for char, glyphs in data.items():
        latin = [g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalpha()]
        if len(char) == 1 and not char.isascii() and latin:
            # The prototype of every I-like stroke is "l"; a capital one (Cyrillic "І") reads "I".
            table[ord(char)] = "I" if latin[0] == "l" and char.isupper() else latin[0]
    return table


@cache
def _invisible_table() -> dict[int, None]:
    """Every format character (category Cf: planes 0, 1 and the tags of plane 14), to be deleted
    with `str.translate`."""
    planes = (range(0x20000), range(0xE0000, 0xE1000))
    return {cp: None for plane in planes for cp in plane if unicodedata.category(chr(cp)) == "Cf"}


def _visible(folded: str) -> str:
    return folded if folded.isascii() else folded.translate(_invisible_table())


@lru_cache(maxsize=65536)
def _fold_char(char: str, drop_invisible: bool) -> str:
    return fold(char, drop_invisible)


def _folded_with_ends(text: str, drop_invisible: bool) -> tuple[str, list[int]]:
    """`text` folded a character at a time, and where in the folded text each character ends
    (the character a folded index came from is `bisect_right(ends, index)`)."""
    if text.isascii():
        return text.lower(), list(range(1, len(text) + 1))
    pieces = [_fold_char(char, drop_invisible) for char in text]
    return "".join(pieces), list(accumulate(map(len, pieces)))


def _url_decoded(text: str) -> str:
    """`text` with %-escapes decoded, as a link is followed ("%6Bim%2Epark%40..."), or "" if none."""
    return urllib.parse.unquote(text) if "%" in text else ""


def _domain_forms(domain: str) -> set[str]:
    forms = {domain}
    try:
        forms.add(domain.encode("idna").decode("ascii"))
    except UnicodeError:
        pass
    if "xn--" in domain:
        try:
            forms.add(domain.encode("ascii").decode("idna"))
        except UnicodeError:
            pass
    return {fold(f) for f in forms if f}


@dataclass
class Traces:
    """Everything that would identify the reporter(s) if it appeared in outgoing mail."""

    addresses: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    phrases: set[str] = field(default_factory=set)  # case codes, the reporter's own words
    #: Folded name words not looked for on their own (`without_words`); whole names still are.
    unsought: frozenset[str] = frozenset()
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def add_address(self, address: str) -> None:
        """A reporter address (any case, +tag, IDN form)."""
        if address and "@" in address:
            self.addresses.add(address.strip())
            self._pattern = None

    def add_name(self, name: str) -> None:
        """A reporter name; each of its words is a trace."""
        if name and name.strip():
            self.names.add(name.strip())
            self._pattern = None

    def add_phrase(self, phrase: str) -> None:
        """A code or line of the reporter's own text that must not leave."""
        if phrase and len(phrase.strip()) >= 4:
            self.phrases.add(phrase.strip())
            self._pattern = None

    def __bool__(self) -> bool:
        return bool(self.addresses or self.names or self.phrases)

    def words(self) -> set[str]:
        """Folded name words and address local parts (the parts that identify on their own)."""
        found = {w for name in self.names for w in name_words(name)}
        for address in self.addresses:
            local = fold(address.rpartition("@")[0].split("+")[0])
            if len(local) >= 3:
                found.add(local)
                found.update(name_words(local))
        return found - self.unsought

    def without_words(self, words: set[str]) -> Traces:
        """These traces, except that the name words among `words` (folded) are not looked for
        alone: for text we wrote ourselves, where a reporter called Jordan Case or Sam Brown of
        Brown University shares a word with the template or the organisation's name. A whole
        name ("Jordan Case"), an address and a phrase are still looked for."""
        shared = frozenset(self.words() & words)
        if not shared:
            return self
        return Traces(set(self.addresses), set(self.names), self.phrases | {
            name for name in self.names if len(name.split()) > 1}, self.unsought | shared)

    def pattern(self) -> re.Pattern[str] | None:
        """One regex over folded text matching any trace (None when there is nothing to find)."""
        if self._pattern is not None or not self:
            return self._pattern
        alternatives: list[str] = []
        for address in self.addresses:
            local, _, domain = fold(address).rpartition("@")
            local = local.split("+")[0]
            domains = "|".join(re.escape(d) for d in sorted(_domain_forms(domain), key=len, reverse=True))
            alternatives.append(rf"{re.escape(local)}(?:\+[^\s@<>\"]*)?\s*@\s*(?:{domains})")
        for phrase in self.phrases:
            alternatives.append(r"\s+".join(re.escape(fold(p)) for p in phrase.split()))
        for word in sorted(self.words(), key=len, reverse=True):
            alternatives.append(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])")
        self._pattern = re.compile("|".join(alternatives), re.UNICODE)
        return self._pattern

    def find(self, text: str) -> str | None:
        """The first trace in `text` (folded form), or None."""
        pattern = self.pattern()
        if pattern is None or not text:
            return None
        kept = fold(text, False)
        visible = _visible(kept)
        match = pattern.search(visible) or (pattern.search(kept) if kept != visible else None) \
            or pattern.search(fold(_url_decoded(text)))
        return match.group(0) if match else None

    def scrub(self, text: str) -> str:
        """`text` with every trace replaced by [reporter], the rest exactly as written.

        Matching runs on the folded text, which can be shorter or longer than the text (an
        invisible character dropped, a ligature or ß expanded): each folded character is traced
        back to the character it came from, so only the trace itself is replaced.
        """
        pattern = self.pattern()
        if pattern is None or not text:
            return text
        if not self.find(text):
            return text
        scrubbed = self._scrub_passes(text, pattern)
        decoded = _url_decoded(scrubbed)
        if decoded and pattern.search(fold(decoded)):  # still there behind %-escapes: scrub it decoded
            scrubbed = self._scrub_passes(decoded, pattern)
        return scrubbed

    @classmethod
    def _scrub_passes(cls, text: str, pattern: re.Pattern[str]) -> str:
        """Invisible characters dropped (a name split by them), then kept (as word breaks)."""
        scrubbed = cls._scrub_pass(text, pattern, True)
        return scrubbed if scrubbed.isascii() else cls._scrub_pass(scrubbed, pattern, False)

    @staticmethod
    def _scrub_pass(text: str, pattern: re.Pattern[str], drop_invisible: bool) -> str:
        folded, ends = _folded_with_ends(text, drop_invisible)
        pieces, last = [], 0
        for match in pattern.finditer(folded):
            if match.end() == match.start():
                continue
            start = max(bisect_right(ends, match.start()), last)
            end = bisect_right(ends, match.end() - 1) + 1
            while end < len(text) and not _fold_char(text[end], True):  # its accents and invisible characters too
                end += 1
            pieces += [text[last:start], REDACTED]
            last = end
        pieces.append(text[last:])
        return "".join(pieces)
