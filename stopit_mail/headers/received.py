"""Parse Received header fields into hops.

Each Received field is one relay's note that it took the message: who connected
(``from``: the HELO name the client chose, the reverse-DNS name and IP the
server saw), who recorded it (``by``), how (``with``), the queue ``id``, the
recipient (``for``), TLS details and when (the date after the last ``;``).
Every MTA writes these differently (Postfix, Exim, Sendmail, qmail, Exchange,
Gmail, Yahoo, CommuniGate, ...), so the parser reads the field as a sequence of
words, ``(comments)``, ``[literals]`` and ``<addresses>``, splits it at the
RFC 5321 clause keywords (:mod:`stopit_mail.headers.received_tokens`) and then
interprets each clause leniently (here).

Nothing is thrown: a field that cannot be read is still returned, with its raw
text and a problem saying why (``parsed_ok`` is then False). Gaps that do not
spoil the hop (no date, an unknown timezone) are recorded as warnings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from .datetimes import parse_date
from .ipclass import LOOPBACK, UNSPECIFIED, classify_ip, normalise_ip
from .received_tokens import (
    MAX_PARSED,
    Token,
    first_value,
    group_clauses,
    split_date,
    tokenise,
    unfold,
    words_of,
)

_UNKNOWN_NAMES = {"unknown", "unverified", "may", "account", "ident", "sun"}
_HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_\-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_\-]+)*\.?$")
_IPV4_LIKE = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])")
# Test corpora anonymise addresses as "XX.YY.ZZ.6"; keep such text as written.
_ANONYMISED_IP = re.compile(r"(?<![\w.])[A-Za-z]{1,3}\.[A-Za-z]{1,3}\.[A-Za-z]{1,3}\.\d+(?![\w.])")
_HELO_IN_COMMENT = re.compile(r"\b(?:helo|ehlo|lhlo)\b(?:\s*=\s*|\s+|$)([^\s()\]]*)", re.I)
_AUTH_IN_COMMENT = re.compile(
    r"(?:authenticated sender:|authenticated user|account)\s+([^\s()]+)", re.I
)
_ENVELOPE_FROM = re.compile(r"envelope-from\s*<?([^>\s()]*)>?", re.I)
_TLS_HINT = re.compile(r"\b(?:version=|cipher=|using\s+TLS|using\s+SSL|TLS1|TLSv1|SSLv3|"
                       r"Transport Security)", re.I)
_EXIM_TLS = re.compile(r"\btls\s+(TLS_[A-Z0-9_]+|[A-Z0-9_\-]{8,})")
_PROTOCOL_WORD = re.compile(
    r"^(?:(?:UTF8)?(?:E?SMTP|LMTP)(?:S|A|SA)?|HTTPS?|LOCAL|MAPI|IMAP|POP3?|NNFMP|UUCP|"
    r"SUBMISSION|SPOOL|PIPE|ESMTP-TLS|QMQP)$", re.I)
_QMAIL = re.compile(r"^(?:qmail|Qmail)\s+\d+\s+invoked\b", re.I)
_INNER_COMMENT = re.compile(r"\([^()]*\)")
_BRACKETED = re.compile(r"\[([^\]]*)\]")
_COMMENT_WORD_SPLIT = re.compile(r"[\s@,]+")
_RDNS_HEAD_SPLIT = re.compile(r"[\s\[]")


@dataclass
class ReceivedHop:
    """One Received field, interpreted. ``position`` 0 is the topmost field."""

    raw: str
    position: int = 0
    from_helo: str | None = None
    from_rdns: str | None = None
    from_ip: str | None = None
    from_ip_text: str | None = None
    by_host: str | None = None
    by_ip: str | None = None
    via: str | None = None
    protocol: str | None = None
    smtp_id: str | None = None
    for_address: str | None = None
    tls: str | None = None
    authenticated: str | None = None
    envelope_from: str | None = None
    timestamp: datetime | None = None
    has_from_clause: bool = False
    comments: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def parsed_ok(self) -> bool:
        """True when the field's structure could be read (no problems)."""
        return not self.problems

    @property
    def from_host(self) -> str | None:
        """The best name for the connecting client: reverse DNS, else HELO."""
        return self.from_rdns or self.from_helo

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict with every field, in a stable order."""
        # A shallow copy (only the lists are copied): dataclasses.asdict deep-copies
        # every value and cost more than parsing the field did.
        data = {name: getattr(self, name) for name in _HOP_FIELDS}
        data["timestamp"] = self.timestamp.isoformat() if self.timestamp else None
        data["comments"] = list(self.comments)
        data["warnings"] = list(self.warnings)
        data["problems"] = list(self.problems)
        data["parsed_ok"] = self.parsed_ok
        return data


_HOP_FIELDS = tuple(f.name for f in fields(ReceivedHop))


def _strip_nested(text: str) -> str:
    """Drop nested comments, e.g. Sendmail's ``(may be forged)``."""
    previous = None
    while previous != text:
        previous = text
        text = _INNER_COMMENT.sub(" ", text)
    return text


def _ip_in_comment(text: str, strict: bool = False) -> tuple[str | None, str | None]:
    """Find the connecting address in a comment: (normalised, as written).

    ``strict`` accepts only a bracketed literal or a comment that is nothing but
    an address, because a ``by`` comment carries version numbers such as
    "(ecelerity 2.2.3.49)".
    """
    for literal in _BRACKETED.findall(text):
        ip = normalise_ip(literal)
        if ip:
            return ip, literal.strip()
    if strict:
        ip = normalise_ip(text.strip())
        return ip, (text.strip() if ip else None)
    for word in _COMMENT_WORD_SPLIT.split(text):
        ip = normalise_ip(word)
        if ip:
            return ip, word
    for literal in _BRACKETED.findall(text):
        # "[UNIX: localhost]" is Sendmail's note for a local socket, not an address.
        literal = literal.strip().lstrip("[").strip()
        if literal and "unix" not in literal.lower():
            return None, literal
    looks = _IPV4_LIKE.search(text) or _ANONYMISED_IP.search(text)
    return None, (looks.group(0) if looks else None)


def _rdns_in_comment(text: str, address_text: str | None) -> str | None:
    """The reverse-DNS name in ``(name [ip])``, ``(IDENT:u@name [ip])`` etc."""
    head = _RDNS_HEAD_SPLIT.split(text.strip(), maxsplit=1)[0]
    if address_text and head.strip("[]") == address_text.strip("[]"):
        return None
    head = head.split("@")[-1].rstrip(".")
    if head.lower().startswith("ident:"):
        head = head[6:]
    if not head or head.lower() in _UNKNOWN_NAMES or head.lower().startswith(("helo", "ehlo")):
        return None
    if normalise_ip(head) or not _HOSTNAME.match(head) or "=" in head:
        return None
    return head


def _tls_from(raw: str, comments: list[str]) -> str | None:
    """TLS details: the first comment that names a version or cipher, plus
    Exim 4.9x's ``tls <cipher>`` words when present."""
    found = next((" ".join(c.split()) for c in comments if _TLS_HINT.search(c)), None)
    match = _EXIM_TLS.search(raw)
    if match and (found is None or match.group(1) not in found):
        return f"{found} {match.group(1)}" if found else match.group(1)
    return found


def _read_from(hop: ReceivedHop, tokens: list[Token], exim: bool) -> None:
    """Fill the from_* fields from the tokens of the ``from`` clause."""
    first = tokens[0] if tokens and tokens[0].kind != "comment" else None
    word = first.text.strip().strip("<>") if first else None
    rest = tokens[1:] if first else tokens
    helo_claim: str | None = None
    helo_seen = False
    rdns: str | None = None
    ip: str | None = None
    ip_text: str | None = None
    for token in rest:
        if token.kind == "literal" and ip is None:
            ip, ip_text = normalise_ip(token.text), token.text.strip()
            continue
        if token.kind != "comment" or _TLS_HINT.search(token.text):
            continue
        flat = _strip_nested(token.text)
        helo = _HELO_IN_COMMENT.search(flat)
        if helo and not helo_seen:
            helo_seen, helo_claim = True, helo.group(1) or None
            # The HELO argument is the client's claim, never the connecting address.
            flat = flat[:helo.start()] + flat[helo.end():]
        found, written = _ip_in_comment(flat)
        if found and (ip is None or (first and first.kind == "literal")):
            ip, ip_text = found, written
        elif written and ip_text is None:
            ip_text = written
        # A bare "(name)" comment is the reverse-DNS name in old Sendmail fields.
        bare_name = not helo and " " not in flat.strip() and "." in flat
        if rdns is None and (found or written or bare_name):
            rdns = _rdns_in_comment(flat, written)
    if word and first is not None and first.kind == "literal":
        word = "[" + word + "]"
    if word and "@" in word and not word.startswith("["):
        # qmail-scanner writes the envelope sender here, not a host name.
        hop.envelope_from = word
        word = None
    word_ip = normalise_ip(word)
    if ip is None and word_ip:
        ip, ip_text = word_ip, word
    if helo_seen:
        # qmail, Exim, CommuniGate and Yahoo write "from <rdns> (HELO <helo>)".
        hop.from_helo = helo_claim
        if word and not word_ip and word.lower() not in _UNKNOWN_NAMES:
            hop.from_rdns = rdns or word.rstrip(".")
        else:
            hop.from_rdns = rdns
    else:
        # Postfix, Sendmail, Exchange: "from <helo> (<rdns> [<ip>])". Exim's
        # "from <name> ([ip])" means the verified name matched the HELO.
        hop.from_helo = word
        exim_name = exim and ip is not None and word and not word_ip
        hop.from_rdns = rdns or (word.rstrip(".") if exim_name and word else None)
    hop.from_ip, hop.from_ip_text = ip, ip_text
    if ip is None and ip_text:
        hop.warnings.append(f"connecting address {ip_text!r} is not a valid IP address")


def _read_by(hop: ReceivedHop, tokens: list[Token]) -> None:
    for token in tokens:
        if token.kind in ("word", "angle", "literal") and hop.by_host is None:
            hop.by_host = token.text.strip().strip("<>").rstrip(".") or None
        elif token.kind == "comment" and hop.by_ip is None:
            found, _ = _ip_in_comment(_strip_nested(token.text), strict=True)
            hop.by_ip = found
    if hop.by_host and normalise_ip(hop.by_host) and hop.by_ip is None:
        hop.by_ip = normalise_ip(hop.by_host)


def _protocol(tokens: list[Token]) -> str | None:
    """The ``with`` keyword upper-cased (ESMTPSA), or a product phrase as written."""
    words = [t.text for t in tokens if t.kind == "word"]
    if not words:
        return None
    if len(words) == 1 or _PROTOCOL_WORD.match(words[0]):
        # Exim 4.9x continues with "tls TLS_AES_...": the protocol is the first word.
        return words[0].upper()
    return " ".join(words)


def _read_comments(hop: ReceivedHop, tokens: list[Token]) -> None:
    hop.comments = [" ".join(t.text.split()) for t in tokens if t.kind == "comment"]
    for comment in hop.comments:
        auth = _AUTH_IN_COMMENT.search(comment)
        if auth and hop.authenticated is None:
            hop.authenticated = auth.group(1).strip("<>")
        env = _ENVELOPE_FROM.search(comment)
        if env and hop.envelope_from is None:
            hop.envelope_from = env.group(1) or "<>"


def _read_date(hop: ReceivedHop, date_text: str | None, body: str) -> None:
    if date_text is None:
        parsed = parse_date(body)
        if parsed.value is not None:
            hop.warnings.append("date not preceded by ';'")
    else:
        parsed = parse_date(date_text)
    hop.timestamp = parsed.value
    hop.warnings.extend(parsed.notes)
    if parsed.value is None:
        hop.warnings.append("no readable date" if date_text and date_text.strip()
                            else "no date")


def _parse(value: str, position: int) -> ReceivedHop:
    hop = ReceivedHop(raw=value, position=position)
    text = unfold(value)
    if len(value) > MAX_PARSED:
        hop.warnings.append(f"field longer than {MAX_PARSED} characters; only the start was read")
    if not text:
        hop.problems.append("empty Received field")
        return hop
    body, date_text = split_date(text)
    tokens = tokenise(body)
    clauses, extras = group_clauses(tokens)
    hop.has_from_clause = "from" in clauses
    # Only a "(" starts a comment: most dates have none, and need no tokenising.
    trailing = [t for t in tokenise(date_text) if t.kind == "comment"] if date_text and "(" in date_text else []
    _read_comments(hop, tokens + trailing)
    hop.tls = _tls_from(body, hop.comments)
    with_tokens = clauses.get("with", [])
    exim = any(t.kind == "comment" and t.text.lower().startswith("exim")
               for t in with_tokens + extras)
    if "from" in clauses:
        _read_from(hop, clauses["from"], exim)
    _read_by(hop, clauses.get("by", []))
    hop.via = words_of(clauses.get("via", []))
    hop.protocol = _protocol(with_tokens)
    hop.smtp_id = first_value(clauses.get("id", []))
    hop.for_address = first_value(clauses.get("for", []))
    _read_date(hop, date_text, body)
    leading = clauses[""]
    if not any(k in clauses for k in ("from", "by", "via", "with")):
        if leading and leading[0].kind == "comment" and _QMAIL.match(leading[0].text):
            # qmail-queue's own note: "invoked by uid N" is local submission,
            # "invoked from network" means qmail-smtpd passed it on.
            hop.protocol = "LOCAL" if "uid" in leading[0].text else "SMTP"
        else:
            hop.problems.append("no from/by/with clause found")
    elif leading and any(t.kind == "word" for t in leading):
        hop.warnings.append(f"text before the first clause: {words_of(leading)!r}")
    if body.count("(") != body.count(")"):
        hop.warnings.append("unbalanced parentheses (field may be truncated)")
    return hop


def parse_received(value: str, position: int = 0) -> ReceivedHop:
    """Parse one Received field value (folded or not). Never raises.

    A failure inside the parser is a bug, but a report must not be lost to a
    bug: it is recorded on the hop as a problem and the raw text is kept.
    """
    try:
        return _parse(str(value), position)
    except Exception as exc:  # noqa: BLE001 - see docstring
        hop = ReceivedHop(raw=str(value), position=position)
        hop.problems.append(f"internal parser error: {type(exc).__name__}: {exc}")
        return hop


def parse_received_headers(values: Sequence[str]) -> list[ReceivedHop]:
    """Parse Received values given in message order (topmost first)."""
    return [parse_received(value, position) for position, value in enumerate(values)]


def is_local_handover(hop: ReceivedHop) -> bool:
    """The hand-over happened inside one machine (or there was no network hop)."""
    if not hop.has_from_clause or hop.protocol == "LOCAL":
        return True
    if hop.from_ip:
        return classify_ip(hop.from_ip) in (LOOPBACK, UNSPECIFIED)
    # "from user@host by relay" (qmail-scanner, AOL) names a mailbox, not a client.
    host = (hop.from_host or "").lower()
    return not host or host in ("localhost", "localhost.localdomain")
