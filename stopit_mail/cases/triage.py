"""Triage: give each report categories and an urgency from configurable rules, with reasons.

A report that reads as a threat of violence or of self-harm must page the on-call chain at once,
so this step favours recall and explains itself: every decision lists which rule matched which
words, quoted from the original text with their offsets, so a person can see why a case was
paged (or why it was not) in seconds.

Rules are data. The defaults ship in ``triage_rules.toml`` next to this module; an organisation
adds its own ``[[triage.rules]]`` tables in stopit.toml and may disable defaults by name. A new
language needs only new rules. Matching happens on normalised text (see ``textnorm``), and each
rule may carry ``unless`` exceptions for idioms ("this homework is killing me") and ``requires``
context ("gun" only counts as a school emergency near "school", "backpack", "tomorrow"...). An
possible-emergency rule (a bare word: "stab", "suicide") may carry ``confirm`` cues of intent or
time ("going to", "tomorrow"): a hit near one counts as a confident *emergency*. An emergency rule
may carry ``hold`` cues ("last year", "was expelled"): a hit near one counts as
*possible-emergency*, so the on-call reviewer is paged first. A hold never silences a hit, and no
cue can take an emergency keyword below the reviewer tier.

Triage never raises on report text; bad configuration raises ``TriageRulesError`` with a message
that names the rule, the key, what was found and what was expected.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from stopit_mail.cases.textnorm import (
    AnchorIndex,
    NormalisedText,
    PhraseError,
    compile_alternation,
    compile_pattern,
    normalise,
)
from stopit_mail.cases.triage_context import shipped_context
from stopit_mail.cases.triage_decision import URGENCIES, Resemblance, RuleMatch, TriageDecision

__all__ = [
    "CATEGORIES",
    "URGENCIES",
    "CompiledRules",
    "Resemblance",
    "RuleMatch",
    "TriageDecision",
    "TriageRule",
    "TriageRulesError",
    "compile_rules",
    "load_rules",
    "triage",
]

CATEGORIES = (
    "bullying", "cyberbullying", "harassment", "sexual-harassment", "discrimination",
    "threats-of-violence", "weapons", "self-harm", "substance-use", "hazing",
    "inappropriate-online-behaviour", "misconduct", "sexual-exploitation", "threat-to-group", "other",
)

DEFAULT_RULES_RESOURCE = "triage_rules.toml"
# Enough evidence for a reader; also bounds the work on pathological multi-megabyte texts.
MAX_MATCHES_PER_RULE = 10
_NAME_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LANGUAGE_RE = re.compile(r"\*|[a-z]{2,3}(?:-[a-z0-9]{2,8})*")
_MAX_WINDOW = 2000
# How far before/after a window an exception or context phrase may start or end and still count.
_LOOKBACK = 80


class TriageRulesError(Exception):
    """The triage configuration is wrong; the message says where, what was found, what was expected."""


@dataclass(frozen=True)
class TriageRule:
    """One named rule: if any pattern matches (and no exception vetoes it) the report gets
    ``category`` and at least ``urgency``."""

    name: str
    category: str
    urgency: str
    language: str
    patterns: tuple[str, ...]
    unless: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    # Characters either side of a hit searched for ``requires``; exceptions must overlap the hit
    # widened by ``unless_window``.
    window: int = 100
    unless_window: int = 0
    description: str = ""
    # Cues (a past, resolved incident...) that hold an emergency hit at the reviewer tier when
    # they match within ``hold_window`` characters of it; cues (intent, a time) that make a
    # possible-emergency hit confident within ``confirm_window``.
    hold: tuple[str, ...] = ()
    hold_window: int = 60
    confirm: tuple[str, ...] = ()
    confirm_window: int = 40


# ---------------------------------------------------------------------------------------------
# Loading and validation


@lru_cache(maxsize=1)
def _default_rules() -> tuple[tuple[str, TriageRule], ...]:
    """The shipped rules, parsed and validated once per process (they cannot change)."""
    return tuple((where, _validate_table(table, where)) for where, table in
                 ((f"default rule #{i}", t) for i, t in enumerate(_default_rule_tables(), 1)))


def _default_rule_tables() -> list[dict[str, Any]]:
    return list(default_rules_data().get("rules", []))


@lru_cache(maxsize=1)
def default_rules_data() -> dict[str, Any]:
    """The shipped rules file: its [[rules]] and its shared [context] cues (``triage_context``)."""
    source = resources.files("stopit_mail.cases").joinpath(DEFAULT_RULES_RESOURCE)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TriageRulesError(
            f"default rules {DEFAULT_RULES_RESOURCE}: invalid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"rules", "context"})
    if unknown:
        raise TriageRulesError(f"default rules {DEFAULT_RULES_RESOURCE}: unknown top-level "
                               f"key(s) {unknown}; expected only [[rules]] tables and [context]")
    return data


def load_rules(
    extra: list[dict[str, Any]] | None = None,
    *,
    include_defaults: bool = True,
    disabled: Iterable[str] = (),
) -> list[TriageRule]:
    """Return the shipped default rules plus ``extra`` (stopit.toml ``[[triage.rules]]`` tables).

    Every table is validated; ``disabled`` names default or extra rules to leave out, and a rule
    in ``extra`` may reuse a disabled name to replace it. Raises TriageRulesError on any mistake.
    """
    tables: list[tuple[str, Any]] = list(_default_rules()) if include_defaults else []
    if extra is not None and not isinstance(extra, list):
        raise TriageRulesError(f"[[triage.rules]]: expected a list of tables, "
                               f"found {type(extra).__name__}")
    tables += [(f"[[triage.rules]] #{i}", t) for i, t in enumerate(extra or [], 1)]
    disabled_names = _check_disabled(disabled)
    rules: dict[str, TriageRule] = {}
    seen: dict[str, str] = {}
    replacements: set[str] = set()
    for where, table in tables:
        rule = table if isinstance(table, TriageRule) else _validate_table(table, where)
        if rule.name in seen:
            if rule.name not in disabled_names or rule.name in replacements:
                raise TriageRulesError(
                    f'{where} ("{rule.name}"): rule name "{rule.name}" is already used by '
                    f"{seen[rule.name]}; names must be unique (to replace a rule, list it in "
                    f"triage.disabled)")
            # A disabled rule redefined later is replaced, not disabled.
            replacements.add(rule.name)
        seen.setdefault(rule.name, where)
        rules[rule.name] = rule
    unknown = sorted(disabled_names - set(seen))
    if unknown:
        raise TriageRulesError(f"triage.disabled: no rule is named {unknown}; "
                               f"expected names of loaded rules")
    return [r for name, r in rules.items() if name not in disabled_names or name in replacements]


# Key -> (expected type, description for messages, required?)
_KEYS: dict[str, tuple[type, str, bool]] = {
    "name": (str, "a kebab-case string", True),
    "category": (str, "one of the categories", True),
    "urgency": (str, "emergency, possible-emergency, urgent or routine", True),
    "language": (str, 'a language code such as "en", "es", "pt-br", or "*"', True),
    "patterns": (list, "a non-empty list of phrases or 're:' regexes", True),
    "unless": (list, "a list of phrases or 're:' regexes", False),
    "requires": (list, "a list of phrases or 're:' regexes", False),
    "window": (int, f"an integer number of characters from 0 to {_MAX_WINDOW}", False),
    "unless_window": (int, f"an integer number of characters from 0 to {_MAX_WINDOW}", False),
    "hold": (list, "a list of phrases or 're:' regexes (on an emergency or confirm rule)", False),
    "hold_window": (int, f"an integer number of characters from 0 to {_MAX_WINDOW}", False),
    "confirm": (list, "a list of phrases or 're:' regexes (only on a possible-emergency rule)", False),
    "confirm_window": (int, f"an integer number of characters from 0 to {_MAX_WINDOW}", False),
    "description": (str, "a string", False),
}


def _validate_table(table: Any, where: str) -> TriageRule:
    """Turn one TOML table into a TriageRule or say precisely what is wrong with it."""
    if not isinstance(table, dict):
        raise TriageRulesError(f"{where}: expected a table, found {type(table).__name__}")
    if isinstance(table.get("name"), str):
        where = f'{where} ("{table["name"]}")'
    for key in table:
        if key not in _KEYS:
            hint = difflib.get_close_matches(str(key), _KEYS, n=1)
            raise TriageRulesError(
                f'{where}: unknown key "{key}"' + (f' (did you mean "{hint[0]}"?)' if hint else "")
                + f"; expected keys: {', '.join(_KEYS)}")
    for key, (kind, expected, required) in _KEYS.items():
        if key not in table:
            if required:
                raise TriageRulesError(f'{where}: missing key "{key}"; expected {expected}')
            continue
        value = table[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise TriageRulesError(f'{where}: key "{key}" is {value!r}; expected {expected}')
    _check_choice(where, "name", table["name"], _NAME_RE.fullmatch(table["name"]) is not None,
                  _KEYS["name"][1])
    _check_choice(where, "category", table["category"], table["category"] in CATEGORIES,
                  "one of " + ", ".join(CATEGORIES), CATEGORIES)
    _check_choice(where, "urgency", table["urgency"], table["urgency"] in URGENCIES,
                  _KEYS["urgency"][1], URGENCIES)
    _check_choice(where, "language", table["language"],
                  _LANGUAGE_RE.fullmatch(table["language"]) is not None, _KEYS["language"][1])
    for key in ("window", "unless_window", "hold_window", "confirm_window"):
        if key in table and not 0 <= table[key] <= _MAX_WINDOW:
            raise TriageRulesError(f'{where}: key "{key}" is {table[key]}; '
                                   f"expected {_KEYS[key][1]}")
    _check_tier_cues(where, table)
    return TriageRule(
        name=table["name"], category=table["category"], urgency=table["urgency"],
        language=table["language"],
        patterns=_patterns(where, "patterns", table["patterns"], required=True),
        unless=_patterns(where, "unless", table.get("unless", []), required=False),
        requires=_patterns(where, "requires", table.get("requires", []), required=False),
        window=table.get("window", TriageRule.window),
        unless_window=table.get("unless_window", TriageRule.unless_window),
        description=table.get("description", ""),
        hold=_patterns(where, "hold", table.get("hold", []), required=False),
        hold_window=table.get("hold_window", TriageRule.hold_window),
        confirm=_patterns(where, "confirm", table.get("confirm", []), required=False),
        confirm_window=table.get("confirm_window", TriageRule.confirm_window),
    )


def _check_tier_cues(where: str, table: dict[str, Any]) -> None:
    """``confirm`` only raises a possible-emergency to emergency; ``hold`` only lowers an emergency
    (given or confirmed) to possible-emergency, never further."""
    urgency = table["urgency"]
    if table.get("confirm") and urgency != "possible-emergency":
        raise TriageRulesError(f'{where}: key "confirm" is set on a rule of urgency "{urgency}"; '
                               f'expected it only on an urgency "possible-emergency" rule')
    if table.get("hold") and urgency != "emergency" and not table.get("confirm"):
        raise TriageRulesError(f'{where}: key "hold" is set on a rule of urgency "{urgency}"; '
                               f'expected it only on an urgency "emergency" rule or one with "confirm" '
                               f"(a hold lowers an emergency to possible-emergency, never further)")


def _check_choice(where: str, key: str, value: str, ok: bool, expected: str,
                  choices: Sequence[str] = ()) -> None:
    if ok:
        return
    hint = difflib.get_close_matches(value, choices, n=1)
    suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
    raise TriageRulesError(f'{where}: key "{key}" is "{value}"{suggestion}; expected {expected}')


def _patterns(where: str, key: str, values: list[Any], *, required: bool) -> tuple[str, ...]:
    if required and not values:
        raise TriageRulesError(f'{where}: key "{key}" is empty; expected {_KEYS[key][1]}')
    for number, value in enumerate(values, 1):
        if not isinstance(value, str) or not value.strip():
            raise TriageRulesError(f'{where}: {key}[{number}] is {value!r}; expected a '
                                   f"non-empty phrase or 're:' regex")
        try:
            compile_pattern(value)
        except re.error as exc:
            raise TriageRulesError(f'{where}: {key}[{number}] "{value}" is not a valid regular '
                                   f"expression ({exc}); expected Python re syntax after 're:'"
                                   ) from exc
        except PhraseError as exc:
            raise TriageRulesError(f'{where}: {key}[{number}] "{value}" {exc}; expected words, '
                                   f'optionally with a trailing "*" or "..." between words'
                                   ) from exc
    try:
        compile_alternation(tuple(values))
    except re.error as exc:
        raise TriageRulesError(f'{where}: key "{key}" cannot be combined into one expression '
                               f"({exc}); expected regexes without global inline flags") from exc
    return tuple(values)


def _check_disabled(disabled: Iterable[str]) -> set[str]:
    if isinstance(disabled, str):
        raise TriageRulesError(f'triage.disabled: expected a list of rule names, found the '
                               f'string "{disabled}"')
    names = set()
    for name in disabled:
        if not isinstance(name, str):
            raise TriageRulesError(f"triage.disabled: expected rule names (strings), "
                                   f"found {name!r}")
        names.add(name)
    return names


# ---------------------------------------------------------------------------------------------
# Compiling and matching


@dataclass(frozen=True)
class _Pattern:
    rule_index: int
    regex: re.Pattern[str]


class CompiledRules:
    """Rules with every pattern compiled once, plus an index of their anchor words.

    Most reports contain none of a rule's anchor words, so most pattern regexes never run; see
    ``AnchorIndex`` for how a text's words pick the patterns (and positions) worth trying.
    """

    def __init__(self, rules: Sequence[TriageRule]) -> None:
        self.rules = tuple(rules)
        self._index = AnchorIndex()
        self._patterns: list[_Pattern] = []
        self._unless: list[re.Pattern[str] | None] = []
        self._requires: list[re.Pattern[str] | None] = []
        self._hold: list[re.Pattern[str] | None] = []
        self._confirm: list[re.Pattern[str] | None] = []
        for index, rule in enumerate(self.rules):
            for pattern in rule.patterns:
                self._index.add(pattern, len(self._patterns))
                self._patterns.append(_Pattern(index, compile_pattern(pattern)))
            self._unless.append(compile_alternation(rule.unless))
            self._requires.append(compile_alternation(rule.requires))
            self._hold.append(compile_alternation(rule.hold))
            self._confirm.append(compile_alternation(rule.confirm))

    def find(self, text: str, field: str = "body") -> list[RuleMatch]:
        """All rule matches in ``text`` (at most MAX_MATCHES_PER_RULE per rule)."""
        norm = normalise(text)
        spans: dict[int, list[tuple[int, int]]] = {}
        scan, at = self._index.candidates(norm.text)
        for slot in sorted(scan | at.keys()):
            pattern = self._patterns[slot]
            kept = spans.setdefault(pattern.rule_index, [])
            hits: Iterable[re.Match[str] | None] = (
                pattern.regex.finditer(norm.text) if slot not in at else
                (pattern.regex.match(norm.text, pos) for pos in sorted(set(at[slot]))))
            for hit in hits:
                if hit is None:
                    continue
                if len(kept) >= MAX_MATCHES_PER_RULE:
                    break
                span = hit.span()
                if span[0] < span[1] and not _overlaps_any(span, kept) \
                        and self._counts(pattern.rule_index, norm.text, span):
                    kept.append(span)
        return [self._match(i, norm, span, field) for i, found in spans.items() for span in found]

    def _counts(self, rule_index: int, text: str, span: tuple[int, int]) -> bool:
        rule = self.rules[rule_index]
        unless, requires = self._unless[rule_index], self._requires[rule_index]
        if unless is not None and _touches(unless, text, span, rule.unless_window):
            return False
        return requires is None or _touches(requires, text, span, rule.window)

    def _match(self, index: int, norm: NormalisedText, span: tuple[int, int],
               field: str) -> RuleMatch:
        rule = self.rules[index]
        start, end = norm.original_span(*span)
        urgency = rule.urgency
        if self._cue(self._confirm[index], norm, span, rule.confirm_window):
            urgency = "emergency"
        held_by = self._cue(self._hold[index], norm, span, rule.hold_window) or shipped_context().near(norm, span) \
            if urgency == "emergency" else ""
        return RuleMatch(rule.name, rule.category, "possible-emergency" if held_by else urgency,
                         norm.original[start:end], start, end, field, held_by)

    @staticmethod
    def _cue(regex: re.Pattern[str] | None, norm: NormalisedText, span: tuple[int, int], window: int) -> str:
        """The original words of a tier cue near this hit ("" if none is near)."""
        hit = None if regex is None else _touching(regex, norm.text, span, window)
        if hit is None:
            return ""
        start, end = norm.original_span(*hit.span())
        return norm.original[start:end]


def _touches(regex: re.Pattern[str], text: str, span: tuple[int, int], window: int) -> bool:
    """True if ``regex`` matches text overlapping ``span`` widened by ``window`` characters."""
    return _touching(regex, text, span, window) is not None


def _touching(regex: re.Pattern[str], text: str, span: tuple[int, int],
              window: int) -> re.Match[str] | None:
    """The first match of ``regex`` overlapping ``span`` widened by ``window`` characters."""
    lo, hi = span[0] - window, span[1] + window
    # Start early enough to see an idiom that begins before the hit and runs through it.
    for hit in regex.finditer(text, max(0, lo - _LOOKBACK), min(len(text), hi + _LOOKBACK)):
        if hit.start() >= hi:
            return None
        if hit.end() > lo:
            return hit
    return None


def _overlaps_any(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(span[0] < e and s < span[1] for s, e in spans)


@lru_cache(maxsize=16)
def _compile_cached(rules: tuple[TriageRule, ...]) -> CompiledRules:
    return CompiledRules(rules)


def compile_rules(rules: Sequence[TriageRule] | CompiledRules) -> CompiledRules:
    """Compile ``rules`` once; repeated calls with the same rules reuse the compiled form."""
    if isinstance(rules, CompiledRules):
        return rules
    return _compile_cached(tuple(rules))


def triage(text: str, rules: Sequence[TriageRule] | CompiledRules,
           subject: str = "") -> TriageDecision:
    """Categorise and prioritise one report; with no match: ["other"], "routine"."""
    compiled = compile_rules(rules)
    matches = compiled.find(subject or "", "subject") + compiled.find(text or "", "body")
    if not matches:
        return TriageDecision(categories=["other"], urgency="routine", matches=[])
    matches.sort(key=lambda m: (m.field != "subject", m.start, m.end))
    best: dict[str, tuple[int, int]] = {}
    for order, m in enumerate(matches):
        rank = URGENCIES.index(m.urgency)
        if m.category not in best or rank < best[m.category][0]:
            best[m.category] = (rank, best.get(m.category, (rank, order))[1])
    categories = sorted(best, key=lambda c: best[c])
    urgency = URGENCIES[min(rank for rank, _ in best.values())]
    return TriageDecision(categories=categories, urgency=urgency, matches=matches)
