"""Context cues shared by every emergency hit: what shows a report is not about a danger now.

The words of an emergency turn up in reports about something else: a past incident already
handled ("the student I reported last spring is doing well"), schoolwork and fiction ("for
creative writing I wrote a story where..."), a song being rehearsed, a game of cops and robbers,
a sports drill, a test message. Rules carry their own ``hold`` cues; these are the ones that hold
for any emergency word, kept once in the ``[context]`` table of ``triage_rules.toml`` instead of
copied into every rule. A cue near a hit (or, for the model, in the sentence it judged) holds it
at *possible-emergency*: the on-call reviewer is paged at once and the chain if nobody answers.
It never takes anything below the reviewer tier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from stopit_mail.cases.textnorm import NormalisedText, PhraseError, compile_alternation, normalise

# How far before/after a window a cue may start or end and still count (as for ``hold``).
_LOOKBACK = 80


class ContextError(ValueError):
    """The shipped ``[context]`` table is malformed (a packaging mistake, caught by the tests)."""


@dataclass(frozen=True)
class ContextCues:
    """Compiled ``[context]`` cues: ``hold`` phrases and how near a hit they must be."""

    hold: re.Pattern[str] | None
    window: int
    # Cues of a danger now or soon ("tonight", "this friday"): near one, no hold applies (a threat
    # from last year re-posted "for this friday" is a threat for this friday).
    present: re.Pattern[str] | None = None

    def near(self, norm: NormalisedText, span: tuple[int, int]) -> str:
        """The original words of a cue within ``window`` characters of the hit ("" if none, or if
        a cue of the present is as near)."""
        cue = self._touching(self.hold, norm, span)
        if cue is None or self._touching(self.present, norm, span) is not None:
            return ""
        start, end = norm.original_span(*cue.span())
        return norm.original[start:end]

    def _touching(self, regex: re.Pattern[str] | None, norm: NormalisedText,
                  span: tuple[int, int]) -> re.Match[str] | None:
        if regex is None:
            return None
        lo, hi = span[0] - self.window, span[1] + self.window
        for hit in regex.finditer(norm.text, max(0, lo - _LOOKBACK), min(len(norm.text), hi + _LOOKBACK)):
            if hit.start() >= hi:
                return None
            if hit.end() > lo:
                return hit
        return None

    def within(self, sentence: str) -> str:
        """The original words of a cue anywhere in ``sentence`` ("" if none)."""
        norm = normalise(sentence)
        return self.near(norm, (0, len(norm.text)))


def parse_context(table: Any, where: str) -> ContextCues:
    """Validate and compile a ``[context]`` table: ``hold`` (phrases) and ``hold_window`` (chars)."""
    if not isinstance(table, dict):
        raise ContextError(f"{where}: [context] must be a table, found {type(table).__name__}")
    unknown = sorted(set(table) - {"hold", "present", "hold_window"})
    if unknown:
        raise ContextError(f"{where}: unknown key(s) {unknown} in [context]; expected hold, present, hold_window")
    window = table.get("hold_window", 80)
    if not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= 2000:
        raise ContextError(f"{where}: [context] hold_window must be an integer from 0 to 2000, found {window!r}")
    return ContextCues(_phrases(table, "hold", where), window, _phrases(table, "present", where))


def _phrases(table: dict[str, Any], key: str, where: str) -> re.Pattern[str] | None:
    phrases = table.get(key, [])
    if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
        raise ContextError(f"{where}: [context] {key} must be a list of non-empty phrases")
    try:
        return compile_alternation(tuple(phrases))
    except PhraseError as exc:
        raise ContextError(f"{where}: [context] {key}: {exc}") from exc


@lru_cache(maxsize=1)
def shipped_context() -> ContextCues:
    """The shipped rules file's ``[context]`` cues (parsed once per process)."""
    from stopit_mail.cases.triage import default_rules_data  # noqa: PLC0415 - triage imports this module

    return parse_context(default_rules_data().get("context", {}), "default rules [context]")
