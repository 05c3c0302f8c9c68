"""What the DKIM, ARC and report modules share: verdict names, dkimpy's logger and
body fix, and small conversions of tag values and times.

Nothing here judges a message; :mod:`stopit_mail.headers.dkim_verify`,
:mod:`stopit_mail.headers.arc` and :mod:`stopit_mail.headers.auth` do.
"""

from __future__ import annotations

import logging
import re
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from typing import Any

#: RFC 8601 verdicts, plus ``neutral`` for evidence whose original bytes are lost.
PASS, FAIL, PERMERROR, TEMPERROR, POLICY, NEUTRAL = (
    "pass", "fail", "permerror", "temperror", "policy", "neutral")
NOT_VERIFIABLE = "not verifiable (forwarded inline)"

#: RFC 8301: RSA keys below this size are not to be trusted.
MIN_RSA_BITS = 1024
_LATEST_TIMESTAMP = 253_402_300_799  # 9999-12-31: datetime cannot go further
_NUMBER = re.compile(rb"\d{1,18}")
_BLANK_RUN = re.compile(rb"[\t ]+")
# dkimpy logs every failure at ERROR; our verdicts carry the same reasons, so its lines
# would only be noise in the service's log. (The name predates the module split.)
DKIMPY_LOG = logging.getLogger("stopit_mail.headers.auth.dkimpy")
DKIMPY_LOG.addHandler(logging.NullHandler())
DKIMPY_LOG.propagate = False


class RelaxedBodyMixin:
    """Feed dkimpy a pre-compressed body for relaxed body canonicalisation.

    dkimpy strips trailing whitespace with ``[\\t ]+\\r\\n``, which backtracks
    quadratically on a long run of spaces not followed by a line end: a
    hostile body of a megabyte of spaces would stall a worker for minutes.
    Relaxed canonicalisation collapses such runs anyway, so collapsing them
    first (a linear step) gives dkimpy the same canonical body, cheaply.
    """

    body: Any

    def body_for(self, c_value: bytes) -> bytes:
        if not hasattr(self, "_raw_body"):
            self._raw_body, self._relaxed_body = self.body, None
        body_algorithm = (c_value.split(b"/") + [b"simple"])[1].strip().lower()
        if body_algorithm != b"relaxed" or not isinstance(self._raw_body, bytes):
            return self._raw_body  # type: ignore[no-any-return]
        if self._relaxed_body is None:
            self._relaxed_body = _BLANK_RUN.sub(b" ", self._raw_body)
        return self._relaxed_body

    def verify_sig_process(self, sig: dict[bytes, bytes], *args: Any) -> Any:
        self.body = self.body_for(sig.get(b"c", b"simple/simple"))
        return super().verify_sig_process(sig, *args)  # type: ignore[misc]


def opt_text(value: Any) -> str | None:
    """Text for a dkimpy value that may be bytes, str or None."""
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def squash(value: bytes) -> str:
    """A tag value as text on one line."""
    return " ".join(value.decode("utf-8", "replace").split())


def number(value: bytes | None) -> int | None:
    """A tag's decimal number (at most 18 digits), or None when it is not one."""
    if value is None or not _NUMBER.fullmatch(value.strip()):
        return None
    return int(value.strip())


def epoch_time(seconds: int | None) -> datetime | None:
    """A UTC time for seconds since the epoch, or None when beyond year 9999."""
    if seconds is None or seconds > _LATEST_TIMESTAMP:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


def utc(now: datetime | None) -> datetime:
    """``now`` as an aware time (naive means UTC), or the current time."""
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


_SCALARS = (str, int, float, type(None))


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of a (dataclass) value: what ``asdict`` plus conversion gave,
    without ``asdict``'s deep copies, which cost more than verification itself.
    Times become ISO 8601 strings, bytes text, tuples lists."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    names = _field_names(type(value))
    if names is not None:
        return {name: jsonable(getattr(value, name)) for name in names}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


# Field names per type, found once: a handful of report types pass through here.
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """The field names of a dataclass, in order; None for any other type."""
    if cls not in _FIELD_NAMES:
        _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls)) if is_dataclass(cls) else None
    return _FIELD_NAMES[cls]
