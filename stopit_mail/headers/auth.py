"""Can the From line be believed? DKIM, ARC and alignment verdicts for one message.

:func:`analyse_authentication` composes one :class:`AuthReport`: a verdict per
DKIM signature (:mod:`stopit_mail.headers.dkim_verify`), the ARC chain verdict
(:mod:`stopit_mail.headers.arc`), the Authentication-Results fields, trusted
only for configured authserv-ids (:mod:`stopit_mail.headers.authresults`), and
DMARC-style alignment of each signing domain with the From domain
(:mod:`stopit_mail.headers.alignment`), summed up in one sentence for the case
file. Nothing here raises: a bug in one stage is reported in ``problems`` and
the other stages still run.

The verification functions are re-exported here, where callers have always
imported them from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stopit_mail.headers.alignment import align, from_domains
from stopit_mail.headers.arc import (
    ArcInstance,
    ArcResult,
    describe_arc,
    has_arc_fields,
    verify_arc,
    verify_arc_with,
)
from stopit_mail.headers.authcommon import (
    FAIL,
    NEUTRAL,
    NOT_VERIFIABLE,
    PASS,
    PERMERROR,
    POLICY,
    TEMPERROR,
    jsonable,
    utc,
)
from stopit_mail.headers.authresults import (
    AuthResultsHeader,
    parse_authentication_results,
    split_header_fields,
)
from stopit_mail.headers.dkim_verify import (
    CLOCK_SKEW_SECONDS,
    DkimSignatureResult,
    describe_dkim,
    parse_for_dkimpy,
    verify_dkim,
    verify_dkim_with,
)
from stopit_mail.headers.dns import DkimDnsFunc, Resolver
from stopit_mail.headers.fields import MAX_HEADER_BYTES, header_section_length

__all__ = [
    "CLOCK_SKEW_SECONDS", "FAIL", "NEUTRAL", "NOT_VERIFIABLE", "PASS", "PERMERROR", "POLICY",
    "TEMPERROR", "ArcInstance", "ArcResult", "AuthReport", "AuthResultsHeader", "DkimAlignment",
    "DkimSignatureResult", "analyse_authentication", "describe_dkim", "parse_authentication_results",
    "verify_arc", "verify_dkim",
]


@dataclass
class DkimAlignment:
    """DMARC-style alignment of one signature's d= with the From domain."""

    index: int
    verdict: str
    signing_domain: str
    from_domain: str
    strict: bool
    relaxed: bool


@dataclass
class AuthReport:
    """Everything staff need to judge whether the From line can be believed."""

    verifiable: bool
    verified_at: datetime
    from_domains: list[str]
    dkim: list[DkimSignatureResult]
    arc: ArcResult
    authentication_results: list[AuthResultsHeader]
    alignments: list[DkimAlignment]
    from_aligned: str
    summary: str
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (times as ISO 8601 strings)."""
        return jsonable(self)


def analyse_authentication(raw: bytes, resolver: Resolver, *,
                           trusted_authserv_ids: Iterable[str] = (), verifiable: bool = True,
                           now: datetime | None = None,
                           header_fields: Sequence[tuple[str, str]] | None = None) -> AuthReport:
    """DKIM, ARC, Authentication-Results and alignment for one message; never raises.

    ``verifiable=False`` is for a message rebuilt from an inline forward: its
    original bytes are lost, so each signature is listed as "not verifiable
    (forwarded inline)" instead of being checked (it would only ever "fail").
    ``header_fields`` is ``read_header_fields(raw)`` when the caller (the trace) already split them.
    """
    moment, problems = utc(now), list[str]()
    fields = _guarded(lambda: split_header_fields(raw, header_fields), [], problems, "reading header fields")
    froms = from_domains(value for name, value in fields if name.lower() == "from")
    oversized = header_section_length(raw) > MAX_HEADER_BYTES
    if oversized:
        problems.append(f"header section longer than {MAX_HEADER_BYTES // 2**20} MiB, far beyond any real "
                        "one: DKIM and ARC were not verified")
    if verifiable and not oversized:
        keys = DkimDnsFunc(resolver)
        # dkimpy parses the message once; DKIM and ARC share that parse.
        parsed = parse_for_dkimpy(raw)
        has_arc = has_arc_fields(parsed)
        shared = None if isinstance(parsed, Exception) else parsed
        signatures = _guarded(lambda: verify_dkim_with(raw, keys, moment, parsed), [], problems, "DKIM")
        arc = _guarded(lambda: verify_arc_with(raw, keys, moment, has_arc, shared),
                       ArcResult("none", "not checked", moment), problems, "ARC")
    else:
        signatures = _guarded(lambda: describe_dkim(raw, moment, fields), [], problems, "DKIM")
        arc = _guarded(lambda: describe_arc(raw, moment, fields),
                       ArcResult("none", "not checked", moment), problems, "ARC")
        if verifiable:
            for signature in signatures:
                signature.reason = "not verified: the header section is too long"
    results = _guarded(lambda: parse_authentication_results(fields, trusted_authserv_ids), [],
                       problems, "Authentication-Results")
    alignments = [DkimAlignment(s.index, s.verdict, a.signing_domain, a.from_domain,
                                a.strict, a.relaxed)
                  for s in signatures if s.domain for a in (align(s.domain, f) for f in froms)]
    if len(froms) != 1:
        problems.append("no From domain" if not froms else
                        f"several From domains ({', '.join(froms)}): alignment is ambiguous")
    modes = {a.strict and "strict" or a.relaxed and "relaxed" or "none"
             for a in alignments if a.verdict == PASS and len(froms) == 1}
    aligned = "strict" if "strict" in modes else "relaxed" if "relaxed" in modes else "none"
    summary = _summary(verifiable, signatures, froms, aligned, arc, results)
    return AuthReport(verifiable, moment, froms, signatures, arc, results, alignments,
                      aligned, summary, problems)


def _guarded(step: Callable[[], Any], default: Any, problems: list[str], what: str) -> Any:
    """Run one stage; a bug in it is reported, and the other stages still run."""
    try:
        return step()
    except Exception as exc:
        problems.append(f"internal error in {what}: {type(exc).__name__}: {exc}")
        return default


def _summary(verifiable: bool, signatures: list[DkimSignatureResult], froms: list[str],
             aligned: str, arc: ArcResult, results: list[AuthResultsHeader]) -> str:
    """One sentence for the case file."""
    passing = sorted({s.domain or "?" for s in signatures if s.verdict == PASS})
    from_text = ", ".join(froms) or "unknown"
    if not verifiable:
        seen = ", ".join(sorted({s.domain for s in signatures if s.domain}))
        parts = [NOT_VERIFIABLE.capitalize() + ": the original bytes are lost"
                 + (f"; signatures claim d={seen}" if seen else "")]
    elif not signatures:
        parts = ["No DKIM signature"]
    elif passing and aligned != "none":
        parts = [f"DKIM pass for {', '.join(passing)}, aligned with the From domain "
                 f"{from_text} ({aligned})"]
    elif passing:
        parts = [f"DKIM pass for {', '.join(passing)} only, not aligned with the From domain "
                 f"{from_text}: no signature vouches for the From line"]
    else:
        parts = ["No DKIM signature verified (" + "; ".join(
            f"d={s.domain}: {s.verdict}, {s.reason}" for s in signatures) + ")"]
    if arc.verdict not in ("none", NEUTRAL):
        parts.append(f"ARC {arc.verdict}")
    for header in results:
        if header.trusted and header.results:
            parts.append(f"trusted {header.authserv_id} says " + ", ".join(
                f"{r.method}={r.result}" for r in header.results))
    return "; ".join(parts) + "."
