"""Lenient parsing of the date-time at the end of a Received header.

RFC 5322 dates in the wild are written by thirty years of mail software: two
digit years (``24 Dec 91``), missing seconds, zone names (``PDT``, ``MSK``,
``Eire``), ``-0000``, zone names in a comment (``(PST)``), a space after a colon
(``07: 14:41``), fractional seconds, and dates with no ``;`` in front of them.
:func:`email.utils.parsedate_to_datetime` handles only part of that and returns
naive datetimes for some, so this module does its own matching.

The result is always timezone-aware. Anything uncertain (an unknown zone name
read as UTC, an impossible day) is reported in a list of notes, never raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}

# Zone names seen in Received headers. Names that mean different things in
# different places (IST, CST) take the meaning RFC 822 or the commonest MTA
# locale gives them; a numeric offset, when present, always wins.
_ZONES_HOURS = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "EIRE": 0,
    "BST": 1, "CET": 1, "MET": 1, "WEST": 1, "IST": 1,
    "CEST": 2, "MEST": 2, "EET": 2, "SAST": 2,
    "EEST": 3, "MSK": 3, "MSD": 4,
    "JST": 9, "KST": 9, "HKT": 8, "SGT": 8, "AWST": 8,
    "ACST": 9.5, "ACDT": 10.5, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
    "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10,
}

_DATE = re.compile(
    r"""
    (?:(?P<wday>[A-Za-z]{3,9})\.?\s*,?\s*)?
    (?P<day>\d{1,2})[\s\-/]*(?P<mon>[A-Za-z]{3,9})\.?[\s\-/]*(?P<year>\d{2,4})
    (?:\s+|\s*[,T]\s*)
    (?P<hour>\d{1,2})\s*[:.]\s*(?P<minute>\d{2})
    (?:\s*[:.]\s*(?P<second>\d{2})(?:[.,]\d+)?)?
    \s*(?P<zone>(?:GMT|UTC|UT)?[+\-]\s?\d{1,2}:?\d{2}|\(?[A-Za-z]{1,5}\)?)?
    (?:\s*\(\s*(?P<zcomment>[A-Za-z]{1,5})\s*\))?
    """,
    re.VERBOSE,
)

# ctime-style, as some old or broken MTAs write it: "Thu Dec  6 09:21:07 2001".
_CTIME = re.compile(
    r"(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2}))?\s+(?:(?P<zone>[A-Za-z]{1,5})\s+)?(?P<year>\d{4})"
)

_ZONE_PREFIX = re.compile(r"^(?:GMT|UTC|UT)(?=[+-])")
_DIGIT_TYPO = re.compile(r"(?<=\s)[lO](?=\d?:\d)")


@dataclass
class ParsedDate:
    """A parsed date-time plus notes on anything that had to be guessed."""

    value: datetime | None
    notes: list[str] = field(default_factory=list)


def _year(text: str) -> int:
    year = int(text)
    # RFC 5322 section 4.3: two-digit years below 50 are 20xx, others 19xx;
    # three-digit years are offsets from 1900.
    if len(text) == 2:
        return year + (2000 if year < 50 else 1900)
    if len(text) == 3:
        return year + 1900
    return year


def _zone(text: str | None, comment: str | None, notes: list[str]) -> timezone:
    """Turn a numeric offset or a zone name into a fixed-offset timezone."""
    zone, found = _read_zone(text, comment)
    notes.extend(found)
    return zone


@lru_cache(maxsize=1024)
def _read_zone(text: str | None, comment: str | None) -> tuple[timezone, tuple[str, ...]]:
    """The zone and the notes on it: remembered, as a message's hops mostly share one or two zones."""
    notes: list[str] = []
    return _zone_of(text, comment, notes), tuple(notes)


def _zone_of(text: str | None, comment: str | None, notes: list[str]) -> timezone:
    raw = (text or "").strip().strip("()").replace(" ", "")
    raw = _ZONE_PREFIX.sub("", raw)
    if raw and raw[0] in "+-":
        digits = raw[1:].replace(":", "")
        if len(digits) <= 2:
            digits = digits.zfill(2) + "00"
        digits = digits.zfill(4)
        hours, minutes = int(digits[:-2]), int(digits[-2:])
        if hours > 23 or minutes > 59:
            notes.append(f"impossible zone offset {raw!r}; read as UTC")
            return UTC
        sign = -1 if raw[0] == "-" else 1
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    name = (raw or comment or "").upper()
    if not name:
        notes.append("no timezone; read as UTC")
        return UTC
    if name in _ZONES_HOURS:
        return timezone(timedelta(hours=_ZONES_HOURS[name]))
    notes.append(f"unknown timezone {name!r}; read as UTC")
    return UTC


def _build(groups: dict[str, str | None], notes: list[str]) -> datetime | None:
    month = _MONTHS.get((groups["mon"] or "").lower())
    if month is None:
        return None
    zone = _zone(groups.get("zone"), groups.get("zcomment"), notes)
    try:
        return datetime(
            _year(groups["year"] or ""), month, int(groups["day"] or 0),
            int(groups["hour"] or 0), int(groups["minute"] or 0),
            int(groups.get("second") or 0), tzinfo=zone,
        )
    except (ValueError, OverflowError) as exc:
        notes.append(f"impossible date ({exc})")
        return None


def parse_date(text: str) -> ParsedDate:
    """Parse the last date-time found in ``text``.

    The last match is used because a Received header's date comes at its end,
    and version strings or ids earlier in the text can look like dates.
    """
    notes: list[str] = []
    cleaned = " ".join(text.split())
    # A lower-case L or upper-case O typed for a digit in the time ("l8:14:23")
    # is a known typo in old examples; read it as the digit it stands for.
    cleaned = _DIGIT_TYPO.sub(lambda m: "1" if m.group(0) == "l" else "0", cleaned)
    matches = [m for m in _DATE.finditer(cleaned) if m.group("mon").lower() in _MONTHS]
    for match in reversed(matches):
        value = _build(match.groupdict(), notes)
        if value is not None:
            return ParsedDate(value, notes)
    ctimes = [m for m in _CTIME.finditer(cleaned) if m.group("mon").lower() in _MONTHS]
    for match in reversed(ctimes):
        groups = match.groupdict()
        groups.setdefault("zcomment", None)
        value = _build(groups, notes)
        if value is not None:
            return ParsedDate(value, notes)
    return ParsedDate(None, notes)
