"""Can the From line be believed? DKIM, ARC and alignment verdicts for one message.

Every ``DKIM-Signature`` is verified on its own with dkimpy's ``dkim.DKIM``
class (the module-level ``dkim.verify()`` folds everything into one
``False``), and each gets an RFC 8601 verdict with a reason a person can read:

- ``pass``: the signature verifies, with an acceptable algorithm and key;
- ``fail``: the body hash or the signature does not match (the message changed);
- ``permerror``: the signature or key is unusable (malformed, no key, revoked,
  expired, unsupported algorithm);
- ``temperror``: the key could not be fetched now (DNS timeout, SERVFAIL);
- ``policy``: the maths checks out but RFC 8301 forbids trusting it
  (``rsa-sha1``, RSA keys under 1024 bits);
- ``neutral``: the message came from an inline forward, so its original bytes
  are lost and nothing can be verified.

Each result carries the key record that produced it and the verification time,
because keys rotate and a stored verdict must be re-checkable. On top of DKIM,
:func:`analyse_authentication` adds the ARC chain verdict, the
Authentication-Results fields (trusted only for configured authserv-ids) and
DMARC-style alignment of each signing domain with the From domain.

dkimpy 1.1.8 is stricter or looser than RFC 6376 in a few places; the
``_StrictDKIM`` subclass and the field and key checks here correct that (see
the comments where it happens). Nothing here raises on any input: a crash
inside dkimpy becomes a ``permerror`` with the exception as the reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import dkim
from dkim.canonicalization import CanonicalizationPolicy
from dkim.util import InvalidTagValueList, parse_tag_value

from stopit_mail.headers.alignment import align, from_domains
from stopit_mail.headers.authresults import (
    AuthResultsHeader,
    parse_authentication_results,
    parse_authres_value,
    split_header_fields,
)
from stopit_mail.headers.dns import DkimDnsFunc, Resolver, vet_key

PASS, FAIL, PERMERROR, TEMPERROR, POLICY, NEUTRAL = (
    "pass", "fail", "permerror", "temperror", "policy", "neutral")
NOT_VERIFIABLE = "not verifiable (forwarded inline)"

# Key type and hash for each algorithm RFC 6376 and RFC 8463 define.
_ALGORITHMS = {"rsa-sha256": ("rsa", "sha256"), "rsa-sha1": ("rsa", "sha1"),
               "ed25519-sha256": ("ed25519", "sha256")}
_REQUIRED_TAGS = ("v", "a", "b", "bh", "d", "h", "s")
# Real signatures are well under 2 KB; a cap keeps dkimpy's regexes linear.
_MAX_SIGNATURE_BYTES = 16_384
_MIN_RSA_BITS = 1024
# Allowance for signers' clocks, as dkimpy uses for t= and x=.
CLOCK_SKEW_SECONDS = 36_000
_LATEST_TIMESTAMP = 253_402_300_799  # 9999-12-31: datetime cannot go further
# dkimpy logs every failure at ERROR; our verdicts carry the same reasons, so its lines
# would only be noise in the service's log.
_LOG = logging.getLogger(__name__ + ".dkimpy")
_LOG.addHandler(logging.NullHandler())
_LOG.propagate = False


@dataclass
class DkimSignatureResult:
    """The verdict on one DKIM-Signature, with everything needed to re-check it."""

    index: int
    verdict: str
    reason: str
    verified_at: datetime
    domain: str | None = None
    selector: str | None = None
    algorithm: str | None = None
    canonicalization: str | None = None
    signed_headers: list[str] = field(default_factory=list)
    identity: str | None = None
    body_length: int | None = None
    timestamp: datetime | None = None
    expires: datetime | None = None
    expired: bool = False
    key_name: str | None = None
    key_record: str | None = None
    key_bits: int | None = None
    signature_valid: bool | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (times as ISO 8601 strings)."""
        return _jsonable(asdict(self))


class _RelaxedBodyMixin:
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
            self._relaxed_body = re.sub(rb"[\t ]+", b" ", self._raw_body)
        return self._relaxed_body

    def verify_sig_process(self, sig: dict[bytes, bytes], *args: Any) -> Any:
        self.body = self.body_for(sig.get(b"c", b"simple/simple"))
        return super().verify_sig_process(sig, *args)  # type: ignore[misc]


class _StrictDKIM(_RelaxedBodyMixin, dkim.DKIM):  # type: ignore[misc]
    """dkimpy's verifier, parsing the message once, minus its own field checks.

    Fields are checked by :func:`_field_problem` before dkimpy runs, because
    dkimpy's checks read the wall clock (so ``now`` could not be honoured),
    reject valid ``q=`` lists and quoted-printable ``i=`` values, and use a
    regex that backtracks quadratically on whitespace in ``h=``.
    """

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw, logger=_LOG, minkey=0)
        self.signature_headers = [(x, y) for x, y in self.headers
                                  if x.lower() == b"dkim-signature"]

    def verify_headerprep(self, idx: int = 0) -> Any:
        if idx >= len(self.signature_headers):
            return False
        try:
            sig = parse_tag_value(self.signature_headers[idx][1])
        except InvalidTagValueList as exc:
            raise dkim.MessageFormatError(exc) from None
        self.signature_fields, self.domain, self.selector = sig, sig[b"d"], sig[b"s"]
        include = _header_names(sig[b"h"])
        self.include_headers = tuple(include)
        return sig, include, self.signature_headers


def verify_dkim(raw: bytes, resolver: Resolver, now: datetime | None = None
                ) -> list[DkimSignatureResult]:
    """Verify every DKIM-Signature of ``raw``, topmost first, as of ``now``.

    Pass the time the message arrived as ``now`` when re-checking stored
    evidence: signatures with ``x=`` expire, often within days.
    """
    return _verify_dkim(raw, DkimDnsFunc(resolver), _utc(now))


def _verify_dkim(raw: bytes, keys: DkimDnsFunc, now: datetime) -> list[DkimSignatureResult]:
    try:
        verifier = _StrictDKIM(raw)
    except Exception as exc:
        return [_unparsed(i, value, now, f"message could not be parsed for verification: {exc}")
                for i, value in enumerate(_lenient_signatures(raw))]
    return [_verify_one(verifier, i, value, keys, now)
            for i, (_name, value) in enumerate(verifier.signature_headers)]


def describe_dkim(raw: bytes, now: datetime | None = None) -> list[DkimSignatureResult]:
    """List the DKIM-Signatures of an inline-forwarded message without judging them."""
    moment = _utc(now)
    results = []
    for i, value in enumerate(_lenient_signatures(raw)):
        result, _tags = _describe(i, value, moment)
        result.verdict, result.reason = NEUTRAL, NOT_VERIFIABLE
        results.append(result)
    return results


def _lenient_signatures(raw: bytes) -> list[bytes]:
    return [value.encode("utf-8") for name, value in split_header_fields(raw)
            if name.lower() == "dkim-signature"]


def _unparsed(index: int, value: bytes, now: datetime, reason: str) -> DkimSignatureResult:
    result, _tags = _describe(index, value, now)
    result.verdict, result.reason = PERMERROR, reason
    return result


def _verify_one(verifier: _StrictDKIM, index: int, value: bytes, keys: DkimDnsFunc,
                now: datetime) -> DkimSignatureResult:
    result, tags = _describe(index, value, now)
    if tags is None:
        return result
    problem = _field_problem(tags, result)
    if problem:
        return _judge(result, PERMERROR, problem)
    if not _fetch_and_vet_key(result, tags, keys):
        return result
    try:
        result.signature_valid = bool(verifier.verify(idx=index, dnsfunc=keys))
    except dkim.ValidationError as exc:
        if "body hash mismatch" not in str(exc):
            return _judge(result, PERMERROR, f"malformed signature: {exc}")
        result.signature_valid = False
        return _judge(result, FAIL, "body hash mismatch: the body changed after signing")
    except Exception as exc:
        return _judge(result, PERMERROR, f"verifier error: {type(exc).__name__}: {exc}")
    result.warnings.extend(_body_length_warnings(verifier, tags))
    if not result.signature_valid:
        return _judge(result, FAIL, "signature did not verify: signed headers changed "
                                    "or the key does not match")
    return _apply_policy(result, now)


def _judge(result: DkimSignatureResult, verdict: str, reason: str) -> DkimSignatureResult:
    result.verdict, result.reason = verdict, reason
    return result


def _describe(index: int, value: bytes, now: datetime
              ) -> tuple[DkimSignatureResult, dict[bytes, bytes] | None]:
    """Read the tags into a result; ``None`` tags when they cannot be read at all."""
    result = DkimSignatureResult(index, PERMERROR, "", now)
    if len(value) > _MAX_SIGNATURE_BYTES:
        result.reason = f"malformed signature: longer than {_MAX_SIGNATURE_BYTES} bytes"
        return result, None
    try:
        tags = parse_tag_value(value)
    except (InvalidTagValueList, ValueError) as exc:
        result.reason = f"malformed signature: bad tag list ({exc})"
        return result, None
    text = {k: _squash(v) for k, v in tags.items()}
    result.domain = text.get(b"d", "").lower() or None
    result.selector = text.get(b"s") or None
    # Exact case: dkimpy looks a= up case-sensitively, so "RSA-SHA256" must not pass our check.
    result.algorithm = text.get(b"a") or None
    result.canonicalization = text.get(b"c") or None
    result.signed_headers = [h.decode("utf-8", "replace") for h in _header_names(tags.get(b"h", b""))]
    if b"i" in tags:
        result.identity = _dqp_decode(tags[b"i"]).decode("utf-8", "replace").strip()
    result.body_length = _number(tags.get(b"l"))
    result.timestamp = _time(_number(tags.get(b"t")))
    result.expires = _time(_number(tags.get(b"x")))
    expiry = _number(tags.get(b"x"))
    result.expired = expiry is not None and expiry + CLOCK_SKEW_SECONDS < now.timestamp()
    if result.domain and result.selector:
        result.key_name = f"{result.selector}._domainkey.{result.domain}".lower()
    return result, tags


def _field_problem(tags: dict[bytes, bytes], result: DkimSignatureResult) -> str | None:
    """The first RFC 6376 section 6.1.1 reason to ignore the signature, if any."""
    for tag in _REQUIRED_TAGS:
        if tag.encode() not in tags:
            return f"malformed signature: missing {tag}= tag"
    if tags[b"v"].strip() != b"1":
        return f"unsupported signature version v={_squash(tags[b'v'])}"
    if result.algorithm not in _ALGORITHMS:
        return f"unsupported algorithm a={result.algorithm}"
    for b_tag in (b"b", b"bh"):
        if not _is_base64(tags[b_tag]):
            return f"malformed signature: {b_tag.decode()}= is not base64"
    try:
        CanonicalizationPolicy.from_c_value(tags.get(b"c", b"simple/simple").strip())
    except Exception:
        return f"unsupported canonicalization c={result.canonicalization}"
    if b"q" in tags and b"dns/txt" not in [q.strip().lower() for q in tags[b"q"].split(b":")]:
        return f"unsupported key query method q={_squash(tags[b'q'])}"
    return _identity_problem(tags, result) or _number_problem(tags, result)


def _identity_problem(tags: dict[bytes, bytes], result: DkimSignatureResult) -> str | None:
    if not result.domain or re.search(r"[\s()<>\[\]:;@\\,]", result.domain):
        return f"malformed signature: bad d= domain {result.domain!r}"
    if not result.selector or re.search(r"[\s()<>\[\]:;@\\,]", result.selector):
        return f"malformed signature: bad s= selector {result.selector!r}"
    names = _header_names(tags[b"h"])
    if any(not re.fullmatch(rb"[\x21-\x39\x3b-\x7e]+", n) for n in names):
        return "malformed signature: bad header name in h="
    if b"from" not in names:
        return "From header field not signed (h= lacks from)"
    if result.identity is not None:
        _local, at, domain = result.identity.rpartition("@")
        domain = domain.lower()
        if not at or not (domain == result.domain or domain.endswith("." + result.domain)):
            return f"i= identity {result.identity!r} is not in the d= domain {result.domain}"
    return None


def _number_problem(tags: dict[bytes, bytes], result: DkimSignatureResult) -> str | None:
    for tag in (b"l", b"t", b"x"):
        if tag in tags and _number(tags[tag]) is None:
            return f"malformed signature: {tag.decode()}= is not a usable number"
    if result.timestamp and result.expires and result.expires < result.timestamp:
        return "malformed signature: x= expiry is earlier than t= timestamp"
    return None


def _fetch_and_vet_key(result: DkimSignatureResult, tags: dict[bytes, bytes],
                       keys: DkimDnsFunc) -> bool:
    """Fetch and check the key (RFC 6376 section 6.1.2); False once a verdict is set."""
    assert result.key_name is not None and result.algorithm is not None
    lookup = keys.lookup(result.key_name)
    if lookup.status == "temperror":
        _judge(result, TEMPERROR, f"DNS error fetching {result.key_name}: {lookup.error}")
        return False
    record = lookup.record
    if lookup.status == "not-found" or record is None:
        _judge(result, PERMERROR, f"no key for {result.key_name} ({lookup.error})")
        return False
    result.key_record = record.decode("utf-8", "replace")
    if len(lookup.records) > 1:
        result.warnings.append(f"{len(lookup.records)} TXT records at {result.key_name}; "
                               "used the first DKIM key among them")
    key_type, hash_name = _ALGORITHMS[result.algorithm]
    verdict = vet_key(record, result.key_name, key_type=key_type, hash_name=hash_name,
                      algorithm=result.algorithm, domain=result.domain or "",
                      identity=result.identity)
    result.key_bits = verdict.bits
    if verdict.testing:
        result.warnings.append("key is in testing mode (t=y): the domain asks not to be relied on")
    if verdict.problem:
        _judge(result, TEMPERROR if verdict.local_fault else PERMERROR, verdict.problem)
        return False
    return True


def _apply_policy(result: DkimSignatureResult, now: datetime) -> DkimSignatureResult:
    """Turn a mathematically valid signature into pass, or say why it cannot count."""
    if result.expired and result.expires:
        return _judge(result, PERMERROR, f"signature expired at {result.expires.isoformat()}")
    if result.timestamp and result.timestamp.timestamp() > now.timestamp() + CLOCK_SKEW_SECONDS:
        return _judge(result, PERMERROR, "signature timestamp t= is in the future")
    if result.algorithm == "rsa-sha1":
        return _judge(result, POLICY, "rsa-sha1 is not acceptable (RFC 8301); "
                                      "the signature itself verifies")
    if result.algorithm and result.algorithm.startswith("rsa") and (result.key_bits or 0) < _MIN_RSA_BITS:
        return _judge(result, POLICY, f"RSA key of {result.key_bits} bits is below the "
                                      f"{_MIN_RSA_BITS}-bit minimum (RFC 8301)")
    for name in ("subject", "date", "to"):
        if name not in result.signed_headers:
            result.warnings.append(f"{name} header not signed: it may have been changed")
    return _judge(result, PASS, "signature verified")


def _body_length_warnings(verifier: _StrictDKIM, tags: dict[bytes, bytes]) -> list[str]:
    if b"l" not in tags:
        return []
    limit = _number(tags[b"l"]) or 0
    warnings = [f"l={limit}: only the first {limit} bytes of the body are signed"]
    try:
        c_value = tags.get(b"c", b"simple/simple").strip()
        policy = CanonicalizationPolicy.from_c_value(c_value)
        extra = len(policy.canonicalize_body(verifier.body_for(c_value))) - limit
    except Exception:
        return warnings
    if extra > 0:
        warnings.append(f"{extra} bytes of the body were not signed: they may have been appended")
    return warnings


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
        return _jsonable(asdict(self))


class _SafeARC(_RelaxedBodyMixin, dkim.ARC):  # type: ignore[misc]
    """dkimpy's ARC verifier with the linear-time body handling above."""

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw, logger=_LOG, minkey=_MIN_RSA_BITS)


_MAX_ARC_INSTANCES = 50  # RFC 8617 section 4.2.1


def verify_arc(raw: bytes, resolver: Resolver, now: datetime | None = None) -> ArcResult:
    """Validate the ARC chain of ``raw`` with dkimpy's ``dkim.ARC``.

    dkimpy checks the seals' ``t=`` against the wall clock, not ``now``; ARC
    has no expiry, so ``now`` is only recorded as the verification time.
    """
    return _verify_arc(raw, DkimDnsFunc(resolver), _utc(now))


def _verify_arc(raw: bytes, keys: DkimDnsFunc, now: datetime) -> ArcResult:
    result = ArcResult("none", "no ARC header fields", now)
    try:
        arc = _SafeARC(raw)
        count = sum(1 for name, _v in arc.headers if name.lower() in dkim.ARC.ARC_HEADERS)
        if count == 0:
            return result
        highest, _sets = arc.sorted_arc_headers()
        if highest > _MAX_ARC_INSTANCES or count > 3 * _MAX_ARC_INSTANCES:
            return _judge_arc(result, "fail", f"more ARC sets than RFC 8617 allows ({count} "
                                              f"fields, highest i={highest})")
        cv, data, reason = arc.verify(dnsfunc=keys)
    except Exception as exc:
        if not _describe_arc(raw, now).instances:
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
        seal_domain=_opt_text(data.get("as-domain")), seal_selector=_opt_text(data.get("as-selector")),
        seal_valid=data.get("as-valid"), chain_status=_opt_text(data.get("cv")),
        signature_domain=_opt_text(data.get("ams-domain")),
        signature_selector=_opt_text(data.get("ams-selector")),
        signature_valid=data.get("ams-valid"),
        results=parse_authres_value(_opt_text(aar) or "", arc=True) if aar else None,
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


def _describe_arc(raw: bytes, now: datetime) -> ArcResult:
    """List the ARC sets of an inline-forwarded message without judging them."""
    sets: dict[int, ArcInstance] = {}
    for name, value in split_header_fields(raw):
        lname = name.lower()
        if lname == "arc-authentication-results":
            parsed = parse_authres_value(value, arc=True)
            if parsed.instance is not None:
                sets.setdefault(parsed.instance, ArcInstance(parsed.instance)).results = parsed
        elif lname in ("arc-seal", "arc-message-signature"):
            tags = _loose_tags(value)
            number = _number(tags.get("i", "").encode())
            if number is None:
                continue
            inst = sets.setdefault(number, ArcInstance(number))
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
        return _jsonable(asdict(self))


def analyse_authentication(raw: bytes, resolver: Resolver, *,
                           trusted_authserv_ids: Iterable[str] = (), verifiable: bool = True,
                           now: datetime | None = None) -> AuthReport:
    """DKIM, ARC, Authentication-Results and alignment for one message; never raises.

    ``verifiable=False`` is for a message rebuilt from an inline forward: its
    original bytes are lost, so each signature is listed as "not verifiable
    (forwarded inline)" instead of being checked (it would only ever "fail").
    """
    moment, problems = _utc(now), list[str]()
    fields = _guarded(lambda: split_header_fields(raw), [], problems, "reading header fields")
    froms = from_domains(value for name, value in fields if name.lower() == "from")
    if verifiable:
        keys = DkimDnsFunc(resolver)
        signatures = _guarded(lambda: _verify_dkim(raw, keys, moment), [], problems, "DKIM")
        arc = _guarded(lambda: _verify_arc(raw, keys, moment),
                       ArcResult("none", "not checked", moment), problems, "ARC")
    else:
        signatures = _guarded(lambda: describe_dkim(raw, moment), [], problems, "DKIM")
        arc = _guarded(lambda: _describe_arc(raw, moment),
                       ArcResult("none", "not checked", moment), problems, "ARC")
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


def _opt_text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _header_names(h_value: bytes) -> list[bytes]:
    # A plain split: dkimpy's re.split(r"\s*:\s*") backtracks on long whitespace.
    return [name.strip().lower() for name in h_value.split(b":") if name.strip()]


def _is_base64(value: bytes) -> bool:
    compact = b"".join(value.split())
    return bool(compact) and len(compact) % 4 == 0 and re.fullmatch(
        rb"[A-Za-z0-9+/]*={0,2}", compact) is not None


def _dqp_decode(value: bytes) -> bytes:
    """Undo dkim-quoted-printable (RFC 6376 section 2.11), as used in i=."""
    compact = b"".join(value.split())
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), compact)


def _squash(value: bytes) -> str:
    return " ".join(value.decode("utf-8", "replace").split())


def _number(value: bytes | None) -> int | None:
    if value is None or not re.fullmatch(rb"\d{1,18}", value.strip()):
        return None
    return int(value.strip())


def _time(seconds: int | None) -> datetime | None:
    if seconds is None or seconds > _LATEST_TIMESTAMP:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
