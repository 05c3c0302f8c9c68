"""ARC verification (RFC 8617): does the chain of sealing intermediaries hold?

A forwarder or mailing list that changes a message breaks its DKIM signatures;
if it seals the message with an ARC set, the chain records what each hop saw
(its ARC-Authentication-Results) and vouches for it. dkimpy's ``dkim.ARC``
validates the chain; this module turns its answer into an :class:`ArcResult`
with each set's sealer, the key records used and any DNS failures, and lists
the sets of an inline-forwarded message without judging them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dkim

from stopit_mail.headers.authcommon import (
    DKIMPY_LOG,
    MIN_RSA_BITS,
    NEUTRAL,
    NOT_VERIFIABLE,
    RelaxedBodyMixin,
    jsonable,
    number,
    opt_text,
    utc,
)
from stopit_mail.headers.authresults import AuthResultsHeader, parse_authres_value, split_header_fields
from stopit_mail.headers.dkim_verify import StrictDKIM
from stopit_mail.headers.dns import DkimDnsFunc, Resolver
from stopit_mail.headers.fields import LinearParseMixin


@dataclass
class ArcInstance:
    """One ARC set (RFC 8617): who sealed it, and what that hop says it saw."""

    instance: int
    seal_domain: str | None = None
    seal_selector: str | None = None
    seal_valid: bool | None = None
    chain_status: str | None = None
    signature_domain: str | None = None
    signature_selector: str | None = None
    signature_valid: bool | None = None
    results: AuthResultsHeader | None = None


@dataclass
class ArcResult:
    """The ARC chain verdict: ``none``, ``pass``, ``fail`` (or ``neutral`` if unverifiable)."""

    verdict: str
    reason: str
    verified_at: datetime
    instances: list[ArcInstance] = field(default_factory=list)
    terminated: bool = False
    dns_errors: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return jsonable(self)


class _SafeARC(LinearParseMixin, RelaxedBodyMixin, dkim.ARC):  # type: ignore[misc]
    """dkimpy's ARC verifier with linear-time header parsing and body handling."""

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw, logger=DKIMPY_LOG, minkey=MIN_RSA_BITS)


_MAX_ARC_INSTANCES = 50  # RFC 8617 section 4.2.1
# Real ARC fields are well under 4 KB (a seal is one signature); dkimpy canonicalises every
# ARC field before it checks anything, which takes seconds on a multi-megabyte one.
_MAX_ARC_FIELD_BYTES = 65_536


def verify_arc(raw: bytes, resolver: Resolver, now: datetime | None = None) -> ArcResult:
    """Validate the ARC chain of ``raw`` with dkimpy's ``dkim.ARC``.

    dkimpy checks the seals' ``t=`` against the wall clock, not ``now``; ARC
    has no expiry, so ``now`` is only recorded as the verification time.
    """
    return verify_arc_with(raw, DkimDnsFunc(resolver), utc(now))


def has_arc_fields(parsed: StrictDKIM | Exception) -> bool | None:
    """Whether dkimpy's parse found ARC fields; None when it could not parse (or
    when in doubt, so that the caller parses again and decides)."""
    if isinstance(parsed, Exception):
        return None
    try:
        return any(name.lower() in dkim.ARC.ARC_HEADERS for name, _value in parsed.headers)
    except Exception:
        return None


def verify_arc_with(raw: bytes, keys: DkimDnsFunc, now: datetime,
                    has_arc: bool | None = None, parsed: LinearParseMixin | None = None) -> ArcResult:
    """:func:`verify_arc` with the caller's key fetcher (shared with DKIM).

    ``has_arc`` False, known from the DKIM step's parse of the same bytes, skips
    parsing the message a second time in the common case of no ARC at all;
    ``parsed``, that parse, spares the second parse when there is ARC.
    """
    result = ArcResult("none", "no ARC header fields", now)
    if has_arc is False:
        return result
    try:
        if parsed is None:
            arc = _SafeARC(raw)
        else:
            arc = _SafeARC(b"")
            arc.adopt(parsed)
        arc_fields = [value for name, value in arc.headers if name.lower() in dkim.ARC.ARC_HEADERS]
        count = len(arc_fields)
        if count == 0:
            return result
        if any(len(value) > _MAX_ARC_FIELD_BYTES for value in arc_fields):
            return _judge_arc(result, "fail", f"an ARC field is longer than {_MAX_ARC_FIELD_BYTES} "
                                              "bytes, far beyond any real one: not verified")
        highest, _sets = arc.sorted_arc_headers()
        if highest > _MAX_ARC_INSTANCES or count > 3 * _MAX_ARC_INSTANCES:
            return _judge_arc(result, "fail", f"more ARC sets than RFC 8617 allows ({count} "
                                              f"fields, highest i={highest})")
        cv, data, reason = arc.verify(dnsfunc=keys)
    except Exception as exc:
        if not describe_arc(raw, now).instances:
            return result
        return _judge_arc(result, "fail", f"ARC verifier error: {type(exc).__name__}: {exc}")
    result.instances = sorted((_arc_instance(d) for d in data), key=lambda a: a.instance)
    result.terminated = cv is None
    verdict = {dkim.CV_Pass: "pass", dkim.CV_None: "none"}.get(cv, "fail")
    _record_arc_keys(result, keys)
    if result.terminated:
        reason = f"chain terminated: {reason}"
    if verdict == "fail" and result.dns_errors:
        reason += " (a key could not be fetched: " + "; ".join(result.dns_errors) + ")"
    return _judge_arc(result, verdict, str(reason))


def _judge_arc(result: ArcResult, verdict: str, reason: str) -> ArcResult:
    result.verdict, result.reason = verdict, reason
    return result


def _arc_instance(data: dict[str, Any]) -> ArcInstance:
    aar = data.get("aar-value")
    return ArcInstance(
        instance=int(data.get("instance", 0)),
        seal_domain=opt_text(data.get("as-domain")), seal_selector=opt_text(data.get("as-selector")),
        seal_valid=data.get("as-valid"), chain_status=opt_text(data.get("cv")),
        signature_domain=opt_text(data.get("ams-domain")),
        signature_selector=opt_text(data.get("ams-selector")),
        signature_valid=data.get("ams-valid"),
        results=parse_authres_value(opt_text(aar) or "", arc=True) if aar else None,
    )


def _record_arc_keys(result: ArcResult, keys: DkimDnsFunc) -> None:
    """Keep the key records the chain was checked with, and any DNS failures."""
    for inst in result.instances:
        for selector, domain in ((inst.seal_selector, inst.seal_domain),
                                 (inst.signature_selector, inst.signature_domain)):
            lookup = keys.lookups.get(f"{selector}._domainkey.{domain}".lower())
            if lookup is None or lookup.name in result.keys:
                continue
            record = lookup.record
            result.keys[lookup.name] = (record.decode("utf-8", "replace") if record is not None
                                        else f"({lookup.status}: {lookup.error})")
            if lookup.status == "temperror":
                result.dns_errors.append(f"{lookup.name}: {lookup.error}")


def describe_arc(raw: bytes, now: datetime,
                 header_fields: list[tuple[str, str]] | None = None) -> ArcResult:
    """List the ARC sets of an inline-forwarded message without judging them.

    ``header_fields`` is ``split_header_fields(raw)`` when the caller already has it.
    """
    sets: dict[int, ArcInstance] = {}
    pairs = split_header_fields(raw) if header_fields is None else header_fields
    for name, value in pairs:
        lname = name.lower()
        if lname == "arc-authentication-results":
            parsed = parse_authres_value(value, arc=True)
            if parsed.instance is not None:
                sets.setdefault(parsed.instance, ArcInstance(parsed.instance)).results = parsed
        elif lname in ("arc-seal", "arc-message-signature"):
            tags = _loose_tags(value)
            index = number(tags.get("i", "").encode())
            if index is None:
                continue
            inst = sets.setdefault(index, ArcInstance(index))
            if lname == "arc-seal":
                inst.seal_domain, inst.seal_selector = tags.get("d"), tags.get("s")
                inst.chain_status = tags.get("cv")
            else:
                inst.signature_domain, inst.signature_selector = tags.get("d"), tags.get("s")
    if not sets:
        return ArcResult("none", "no ARC header fields", now)
    return ArcResult(NEUTRAL, NOT_VERIFIABLE, now, instances=[sets[i] for i in sorted(sets)])


def _loose_tags(value: str) -> dict[str, str]:
    pairs = (part.partition("=") for part in value.split(";"))
    return {k.strip().lower(): " ".join(v.split()) for k, eq, v in pairs if eq}
