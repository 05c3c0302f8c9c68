"""DKIM verification: one RFC 8601 verdict per DKIM-Signature, with its key record.

Every ``DKIM-Signature`` is verified on its own with dkimpy's ``dkim.DKIM``
class (the module-level ``dkim.verify()`` folds everything into one
``False``), and each gets a verdict with a reason a person can read:

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
because keys rotate and a stored verdict must be re-checkable.

dkimpy 1.1.8 is stricter or looser than RFC 6376 in a few places; the
:class:`StrictDKIM` subclass and the field and key checks here correct that
(see the comments where it happens). Nothing here raises on any input: a crash
inside dkimpy becomes a ``permerror`` with the exception as the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dkim
from dkim.canonicalization import CanonicalizationPolicy
from dkim.util import InvalidTagValueList, parse_tag_value

from stopit_mail.headers import dkim_rsa, dkimkeys
from stopit_mail.headers.authcommon import (
    DKIMPY_LOG,
    FAIL,
    MIN_RSA_BITS,
    NEUTRAL,
    NOT_VERIFIABLE,
    PASS,
    PERMERROR,
    POLICY,
    TEMPERROR,
    RelaxedBodyMixin,
    epoch_time,
    jsonable,
    number,
    squash,
    utc,
)
from stopit_mail.headers.authresults import split_header_fields
from stopit_mail.headers.dns import DkimDnsFunc, Resolver, vet_key
from stopit_mail.headers.fields import LinearParseMixin

dkim_rsa.install()
dkimkeys.install()

# Key type and hash for each algorithm RFC 6376 and RFC 8463 define.
_ALGORITHMS = {"rsa-sha256": ("rsa", "sha256"), "rsa-sha1": ("rsa", "sha1"),
               "ed25519-sha256": ("ed25519", "sha256")}
_REQUIRED_TAGS = ("v", "a", "b", "bh", "d", "h", "s")
# Real signatures are well under 2 KB; a cap keeps dkimpy's regexes linear.
_MAX_SIGNATURE_BYTES = 16_384
# Allowance for signers' clocks, as dkimpy uses for t= and x=.
CLOCK_SKEW_SECONDS = 36_000
_BAD_NAME_CHAR = re.compile(r"[\s()<>\[\]:;@\\,]")
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_DQP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


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
        return jsonable(self)


class StrictDKIM(LinearParseMixin, RelaxedBodyMixin, dkim.DKIM):  # type: ignore[misc]
    """dkimpy's verifier, parsing the message once (in linear time), minus its own field checks.

    Fields are checked by :func:`_field_problem` before dkimpy runs, because
    dkimpy's checks read the wall clock (so ``now`` could not be honoured),
    reject valid ``q=`` lists and quoted-printable ``i=`` values, and use a
    regex that backtracks quadratically on whitespace in ``h=``.
    """

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw, logger=DKIMPY_LOG, minkey=0)
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

    def verify_sig_process(self, sig: dict[bytes, bytes], include_headers: list[bytes], *args: Any) -> Any:
        # dkimpy canonicalises every field of the header section, then hashes only those named
        # in h= (the last ones of each name): a forward's eight Received fields were unfolded and
        # compressed for nothing. Only the fields of those names are handed to it, in their
        # order, every one of each name (so an added second From still fails); under both
        # canonicalisations a field is selected by its lower-cased name, "relaxed" stripped.
        wanted = set(include_headers)
        every = self.headers
        self.headers = [pair for pair in every if pair[0].lower() in wanted or pair[0].lower().rstrip() in wanted]
        try:
            return super().verify_sig_process(sig, include_headers, *args)
        finally:
            self.headers = every


def verify_dkim(raw: bytes, resolver: Resolver, now: datetime | None = None
                ) -> list[DkimSignatureResult]:
    """Verify every DKIM-Signature of ``raw``, topmost first, as of ``now``.

    Pass the time the message arrived as ``now`` when re-checking stored
    evidence: signatures with ``x=`` expire, often within days.
    """
    return verify_dkim_with(raw, DkimDnsFunc(resolver), utc(now))


def parse_for_dkimpy(raw: bytes) -> StrictDKIM | Exception:
    """dkimpy's parse of ``raw``, or the exception it raised; never raises."""
    try:
        return StrictDKIM(raw)
    except Exception as exc:
        return exc


def verify_dkim_with(raw: bytes, keys: DkimDnsFunc, now: datetime,
                     parsed: StrictDKIM | Exception | None = None) -> list[DkimSignatureResult]:
    """:func:`verify_dkim` with the caller's key fetcher (shared with ARC, so each key
    is fetched once) and, when given, its :func:`parse_for_dkimpy` of ``raw``."""
    verifier = parse_for_dkimpy(raw) if parsed is None else parsed
    if isinstance(verifier, Exception):
        return [_unparsed(i, value, now, f"message could not be parsed for verification: {verifier}")
                for i, value in enumerate(_lenient_signatures(raw))]
    return [_verify_one(verifier, i, value, keys, now)
            for i, (_name, value) in enumerate(verifier.signature_headers)]


def describe_dkim(raw: bytes, now: datetime | None = None,
                  header_fields: list[tuple[str, str]] | None = None
                  ) -> list[DkimSignatureResult]:
    """List the DKIM-Signatures of an inline-forwarded message without judging them.

    ``header_fields`` is ``split_header_fields(raw)`` when the caller already has it.
    """
    moment = utc(now)
    results = []
    for i, value in enumerate(_lenient_signatures(raw, header_fields)):
        result, _tags = _describe(i, value, moment)
        result.verdict, result.reason = NEUTRAL, NOT_VERIFIABLE
        results.append(result)
    return results


def _lenient_signatures(raw: bytes, header_fields: list[tuple[str, str]] | None = None
                        ) -> list[bytes]:
    pairs = split_header_fields(raw) if header_fields is None else header_fields
    return [value.encode("utf-8") for name, value in pairs if name.lower() == "dkim-signature"]


def _unparsed(index: int, value: bytes, now: datetime, reason: str) -> DkimSignatureResult:
    result, _tags = _describe(index, value, now)
    result.verdict, result.reason = PERMERROR, reason
    return result


def _verify_one(verifier: StrictDKIM, index: int, value: bytes, keys: DkimDnsFunc,
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
    text = {k: squash(v) for k, v in tags.items()}
    result.domain = text.get(b"d", "").lower() or None
    result.selector = text.get(b"s") or None
    # Exact case: dkimpy looks a= up case-sensitively, so "RSA-SHA256" must not pass our check.
    result.algorithm = text.get(b"a") or None
    result.canonicalization = text.get(b"c") or None
    result.signed_headers = [h.decode("utf-8", "replace") for h in _header_names(tags.get(b"h", b""))]
    if b"i" in tags:
        result.identity = _dqp_decode(tags[b"i"]).decode("utf-8", "replace").strip()
    result.body_length = number(tags.get(b"l"))
    result.timestamp = epoch_time(number(tags.get(b"t")))
    result.expires = epoch_time(number(tags.get(b"x")))
    expiry = number(tags.get(b"x"))
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
        return f"unsupported signature version v={squash(tags[b'v'])}"
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
        return f"unsupported key query method q={squash(tags[b'q'])}"
    return _identity_problem(tags, result) or _number_problem(tags, result)


def _identity_problem(tags: dict[bytes, bytes], result: DkimSignatureResult) -> str | None:
    if not result.domain or _BAD_NAME_CHAR.search(result.domain):
        return f"malformed signature: bad d= domain {result.domain!r}"
    if not result.selector or _BAD_NAME_CHAR.search(result.selector):
        return f"malformed signature: bad s= selector {result.selector!r}"
    names = _header_names(tags[b"h"])
    if any(not _FIELD_NAME.fullmatch(n) for n in names):
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
        if tag in tags and number(tags[tag]) is None:
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
    if result.algorithm and result.algorithm.startswith("rsa") and (result.key_bits or 0) < MIN_RSA_BITS:
        return _judge(result, POLICY, f"RSA key of {result.key_bits} bits is below the "
                                      f"{MIN_RSA_BITS}-bit minimum (RFC 8301)")
    for name in ("subject", "date", "to"):
        if name not in result.signed_headers:
            result.warnings.append(f"{name} header not signed: it may have been changed")
    return _judge(result, PASS, "signature verified")


def _body_length_warnings(verifier: StrictDKIM, tags: dict[bytes, bytes]) -> list[str]:
    if b"l" not in tags:
        return []
    limit = number(tags[b"l"]) or 0
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


def _header_names(h_value: bytes) -> list[bytes]:
    # A plain split: dkimpy's re.split(r"\s*:\s*") backtracks on long whitespace.
    return [name.strip().lower() for name in h_value.split(b":") if name.strip()]


def _is_base64(value: bytes) -> bool:
    compact = b"".join(value.split())
    return bool(compact) and len(compact) % 4 == 0 and _BASE64.fullmatch(compact) is not None


def _dqp_decode(value: bytes) -> bytes:
    """Undo dkim-quoted-printable (RFC 6376 section 2.11), as used in i=."""
    compact = b"".join(value.split())
    return _DQP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), compact)
