"""Reading Authentication-Results header fields (RFC 8601), trusting only our own.

A receiving server records its SPF, DKIM, DMARC and ARC verdicts in an
``Authentication-Results`` field. Those verdicts are useful when the original
bytes are lost or the keys have rotated, but anybody can write such a field
before sending: a harasser can add ``Authentication-Results: mx.google.com;
dkim=pass``. So each parsed field is marked ``trusted`` only when its
authserv-id is one the operator configured, such as the mail server that
delivered to the victim's mailbox (which, per RFC 8601 section 5, removes
look-alikes carrying its own id).

The parser is lenient: comments and quoted strings are honoured, unknown
syntax becomes a ``problems`` entry, and nothing raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from stopit_mail.headers.fields import read_header_fields

_AR_NAMES = ("authentication-results",)
_ARC_AR_NAME = "arc-authentication-results"
#: Real fields are a few kilobytes at most; reading a hostile one character by
#: character (comments, quotes) is capped here.
_MAX_VALUE = 65_536


@dataclass
class AuthResult:
    """One ``method=result`` statement, e.g. ``dkim=pass header.d=example.com``."""

    method: str
    result: str
    method_version: str | None = None
    reason: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class AuthResultsHeader:
    """One Authentication-Results (or ARC-Authentication-Results) field."""

    authserv_id: str
    trusted: bool = False
    version: int | None = None
    results: list[AuthResult] = field(default_factory=list)
    instance: int | None = None
    raw: str = ""
    problems: list[str] = field(default_factory=list)

    def by_method(self, method: str) -> list[AuthResult]:
        """The statements for one method (``dkim``, ``spf``, ``dmarc``, ``arc``...)."""
        return [r for r in self.results if r.method == method.lower()]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return asdict(self)


def split_header_fields(raw: bytes, read: Sequence[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """The header fields of a message as unfolded ``(name, value)`` text pairs.

    The fields are found by the splitter the trace uses (`fields.read_header_fields`: linear
    time however hostile the folding, stops at the first empty line, skips an mbox ``From ``
    line); here each value is unfolded, and a line inside the section that is neither a field
    nor a continuation is left out rather than glued to the field before it. ``read`` is
    ``read_header_fields(raw)`` when the caller already has it (the analysis splits once).
    """
    return [(name, _unfold(value)) for name, value in (read_header_fields(raw) if read is None else read)]


def _unfold(value: str) -> str:
    if "\n" not in value:
        return value
    first, *rest = value.split("\n")
    return first + "".join(line for line in rest if line[:1] in (" ", "\t"))


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _as_text(value: str | bytes) -> str:
    return _text(value) if isinstance(value, bytes) else str(value)


def parse_authentication_results(
    headers: bytes | Iterable[tuple[str | bytes, str | bytes]],
    trusted_authserv_ids: Iterable[str] = (),
) -> list[AuthResultsHeader]:
    """Parse every Authentication-Results field, topmost (most recent) first.

    ``headers`` is a raw message (only its header block is read) or
    ``(name, value)`` pairs. A field is ``trusted`` when its authserv-id
    matches one of ``trusted_authserv_ids``, case-insensitively.
    """
    trusted = {t.strip().lower() for t in trusted_authserv_ids}
    pairs = split_header_fields(headers) if isinstance(headers, bytes) else headers
    parsed = []
    for raw_name, raw_value in pairs:
        name, value = _as_text(raw_name), _as_text(raw_value)
        if name.strip().lower() in _AR_NAMES:
            header = parse_authres_value(value)
            header.trusted = header.authserv_id.lower() in trusted
            parsed.append(header)
    return parsed


def parse_authres_value(value: str, *, arc: bool = False) -> AuthResultsHeader:
    """Parse one field value; ``arc=True`` expects the ``i=N;`` prefix of RFC 8617."""
    header = AuthResultsHeader(authserv_id="", raw=value[:_MAX_VALUE])
    if len(value) > _MAX_VALUE:
        header.problems.append(f"field longer than {_MAX_VALUE} characters; only the start was read")
        value = value[:_MAX_VALUE]
    try:
        segments = _split_semicolons(_strip_comments(value))
        if arc:
            header.instance = _instance(segments.pop(0) if segments else "", header)
        if segments and _STATEMENT.match(segments[0]):
            # No authserv-id (one cannot hold an unquoted "="): Microsoft 365 writes its
            # results so ("spf=pass (sender IP is ...) smtp.mailfrom=...; dkim=pass ...").
            header.problems.append("no authserv-id: the writer of these results does not say who it is")
        else:
            _read_authserv(segments.pop(0) if segments else "", header)
        for segment in segments:
            _read_resinfo(segment, header)
    except Exception as exc:  # a parser bug must not lose the rest of the report
        header.problems.append(f"unparseable: {exc!r}")
    return header


# A "method=result" statement, as opposed to an authserv-id (a token or quoted string, no "=").
_STATEMENT = re.compile(r"\s*[A-Za-z][A-Za-z0-9_-]*(?:\s*/\s*\d+)?\s*=")


def _strip_comments(value: str) -> str:
    """Replace (possibly nested) comments by a space, leaving quoted strings alone."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif quoted:
            quoted = char != '"'
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                out.append(" ")
        elif depth == 0:
            quoted = char == '"'
            out.append(char)
    return "".join(out)


def _split_semicolons(value: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def _words(segment: str) -> list[str]:
    """Whitespace-separated words, with ``a = b`` and ``m / 1`` glued back together."""
    # Collapse whitespace runs first: "\s*=" on a long run would backtrack quadratically.
    segment = re.sub(r" ?= ?", "=", " ".join(segment.split()))
    segment = re.sub(r" ?/ ?", "/", segment)
    return re.findall(r'(?:"(?:\\.|[^"\\])*"|[^\s"])+', segment)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _instance(segment: str, header: AuthResultsHeader) -> int | None:
    match = re.fullmatch(r"i\s*=\s*(\d{1,4})", segment.strip(), re.IGNORECASE)
    if match is None:
        header.problems.append(f"missing or bad ARC instance tag: {segment[:80]!r}")
        return None
    return int(match.group(1))


def _read_authserv(segment: str, header: AuthResultsHeader) -> None:
    words = _words(segment)
    if not words:
        header.problems.append("missing authserv-id")
        return
    header.authserv_id = _unquote(words[0])
    if len(words) > 1 and words[1].isascii() and words[1].isdigit() and len(words[1]) < 6:
        header.version = int(words[1])
    elif len(words) > 1:
        header.problems.append(f"unexpected text after authserv-id: {' '.join(words[1:])[:80]!r}")


def _read_resinfo(segment: str, header: AuthResultsHeader) -> None:
    words = _words(segment)
    if not words or words == ["none"]:
        return
    method, eq, result = words[0].partition("=")
    if not eq or not method or not result:
        header.problems.append(f"not a method=result statement: {segment[:80]!r}")
        return
    name, _slash, version = method.partition("/")
    entry = AuthResult(name.lower(), _unquote(result).lower(), version or None)
    for word in words[1:]:
        key, eq, val = word.partition("=")
        if not eq:
            header.problems.append(f"{entry.method}: ignored {word[:40]!r}")
        elif key.lower() == "reason":
            entry.reason = _unquote(val)
        elif "." in key:
            ptype, _dot, prop = key.partition(".")
            entry.properties[f"{ptype.lower()}.{prop.lower()}"] = _unquote(val)
        else:
            header.problems.append(f"{entry.method}: ignored {word[:40]!r}")
    header.results.append(entry)
