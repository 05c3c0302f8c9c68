"""What a page may say about the report: where, when and who is at risk, never who reported.

The on-call person reading a page on a phone at 3 a.m. needs to act before they can open the
case: is someone in danger *now*, *where*, and *who*. This module pulls short phrases for
those three out of the report with plain patterns (English and Spanish, the languages the
rules cover), and nothing else: no sentence, no name, no address, no number longer than a
room number. Who is at risk is told by role ("the reporter's friend", "the reporter"),
never by name, so a page forwarded to a police desk or read over a shoulder does not
identify the reporter through the person they wrote about.

Every phrase is checked against the reporter's own name and address parts and dropped if it
contains one, and run through `terminal_safe` (pages are read on terminals and phones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stopit_mail.textsafe import terminal_safe

_PLACES = (
    "gym|gymnasium|school|campus|library|bathroom|restroom|toilets?|locker ?room|cafeteria|canteen|dorm|"
    "dormitory|residence hall|hall|hallway|classroom|room \\d{1,4}[a-z]?|building [a-z0-9]{1,4}|parking (?:lot|garage)|"
    "car park|field|football field|stadium|playground|bridge|station|train station|bus stop|bus|park|"
    "home|house|apartment|flat|basement|roof|rooftop|stairwell|stairs|quad|auditorium|chapel|lab|office|"
    "woods|river|lake|beach|mall|church|gym class|cafe|tracks|railway"
)
_PLACES_ES = "escuela|colegio|instituto|baño|gimnasio|biblioteca|cafetería|casa|parque|puente|estación|salón|aula|patio"
_LOCATION = re.compile(
    rf"\b(?:at|in|behind|near|outside|inside|under|on top of|by|on)\s+(?:the\s+|my\s+|our\s+|his\s+|her\s+)?"
    rf"(?:[a-z]+\s+){{0,2}}?(?:{_PLACES})\b(?:,?\s+(?:room|apt\.?|apartment|floor)\s+\d{{1,4}}[a-z]?\b)?"
    rf"|\b(?:en|detrás de|cerca de|afuera de|dentro de)\s+(?:el\s+|la\s+|los\s+|las\s+|mi\s+|su\s+)?(?:{_PLACES_ES})\b",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"\b(?:right now|tonight|today|tomorrow(?: morning| night)?|this (?:morning|afternoon|evening|weekend)|"
    r"after school|before school|at lunch|during lunch|(?:on |this |next )?(?:monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday)|at \d{1,2}(?::\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.)?|in (?:an|one|two|\d{1,2}) (?:hours?|minutes?)|"
    r"last night|already|(?:on |by )?\d{1,2}/\d{1,2}(?:/\d{2,4})?)"
    r"|\b(?:esta noche|hoy|mañana|ahora mismo|ahora|después de clases|el (?:lunes|martes|miércoles|jueves|viernes|"
    r"sábado|domingo))\b",
    re.IGNORECASE,
)
_RELATIONS = (
    "friend|best friend|classmate|roommate|sister|brother|cousin|girlfriend|boyfriend|partner|son|daughter|kid|"
    "child|student|teacher|neighbou?r|teammate|coworker|colleague|mom|mother|dad|father"
)
_OTHER = re.compile(
    rf"\b(?P<owner>my|our|a|the|this|one)\s+(?:(?:[a-z]+)\s+)?(?P<who>{_RELATIONS})s?\b"
    r"|\b(?P<es>mi amig[oa]|mi herman[oa]|un compañero|una compañera|mi compañer[oa]|un estudiante|una estudiante)\b",
    re.IGNORECASE,
)
_SELF = re.compile(
    r"\b(?:I (?:want|wanna|am going|'m going|plan|took|have taken|cut|hurt|can't)|I'm (?:going|done|not safe)|"
    r"kill myself|hurt myself|end my life|me quiero|quiero morir|me voy a)\b",
    re.IGNORECASE,
)
_GROUP = re.compile(r"\b(?:everyone|everybody|the whole school|students|all of you|the school|todos)\b", re.IGNORECASE)
_QUOTED = re.compile(r"^\s*>.*$", re.MULTILINE)
_TOKEN = re.compile(r"[a-z0-9]{3,}")
MAX_FACTS = 3
MAX_PHRASE = 40


@dataclass
class Facts:
    """Short phrases for a page: where, when, who is at risk (each possibly empty)."""

    where: list[str] = field(default_factory=list)
    when: list[str] = field(default_factory=list)
    who: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        """Nothing found: the page says so instead of guessing."""
        return not (self.where or self.when or self.who)


def reporter_tokens(address: str | None, name: str | None) -> set[str]:
    """Lower-case parts of the reporter's address and name that must never appear in a page."""
    text = f"{address or ''} {name or ''}".lower()
    parts = set(_TOKEN.findall(text))
    # The domain names the school, not the person; keep it out of the ban list.
    domain = (address or "").lower().partition("@")[2]
    return parts - set(_TOKEN.findall(domain))


def _keep(source: str, banned: set[str], into: list[str], label: str = "") -> None:
    """Add `label` (or the source phrase itself) unless the source names the reporter."""
    source = " ".join(source.split())
    if set(_TOKEN.findall(source.lower())) & banned or "@" in source or len(into) >= MAX_FACTS:
        return
    phrase = terminal_safe(label or source)[:MAX_PHRASE]
    if phrase.lower() not in (p.lower() for p in into):
        into.append(phrase)


def _who(match: re.Match[str]) -> str:
    if match.group("es"):
        return match.group("es").lower()
    owner, who = match.group("owner").lower(), match.group("who").lower()
    if owner in ("my", "our"):
        return f"the reporter's {who}"
    return f"a {who}" if owner in ("a", "one") else f"the {who}"


def extract_facts(texts: list[str], banned: set[str] = frozenset()) -> Facts:  # type: ignore[assignment]
    """Where, when and who is at risk, as far as the reporter's words (first) and evidence say."""
    facts = Facts()
    for text in texts:
        text = _QUOTED.sub("", text or "")[:20000]
        for match in _LOCATION.finditer(text):
            _keep(match.group(0), banned, facts.where)
        for match in _TIME.finditer(text):
            _keep(match.group(0), banned, facts.when)
        if (found := _SELF.search(text)) is not None:
            _keep(found.group(0), banned, facts.who, "the reporter (writes about themself)")
        for match in _OTHER.finditer(text):
            _keep(match.group(0), banned, facts.who, _who(match))
        if (found := _GROUP.search(text)) is not None:
            _keep(found.group(0), banned, facts.who, "a group (the school or several people)")
    return facts
