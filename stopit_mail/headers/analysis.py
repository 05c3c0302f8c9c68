"""One header analysis of a message: where it came from (trace) and whether to believe it (auth).

Used by `stopit trace` on any file and by the pipeline for every evidence message at intake,
where the result is stored with the evidence: verification means something only at intake
(keys rotate, signatures expire), so the verdict, the time and the key record used are kept.
How complete the evidence is decides what can be claimed: only original bytes can pass or
fail DKIM; pasted headers and inline forwards are "not verifiable", never "fail".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stopit_mail.config import HeaderSettings
from stopit_mail.headers.auth import analyse_authentication
from stopit_mail.headers.dns import DnspythonResolver, OfflineResolver, Resolver
from stopit_mail.headers.fields import read_header_fields
from stopit_mail.headers.trace import TrustedRelays, trace_headers

ANALYSIS_VERSION = 1
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class HeaderPolicy:
    """What the analysis trusts; built once from configuration."""

    trusted: TrustedRelays | None
    trusted_authserv_ids: tuple[str, ...]
    clock_skew: timedelta
    resolver: Resolver

    @classmethod
    def from_settings(cls, settings: HeaderSettings, cache_dir: Path | None, offline: bool = False) -> HeaderPolicy:
        """Policy from the [headers] section; `offline` (or dns = "offline") never touches DNS."""
        resolver: Resolver
        if offline or settings.dns == "offline":
            resolver = OfflineResolver()
        else:
            resolver = DnspythonResolver(cache_dir, lifetime=settings.dns_timeout_seconds)
        trusted = TrustedRelays.from_strings(settings.trusted_relays) if settings.trusted_relays else None
        return cls(trusted, tuple(settings.trusted_authserv_ids),
                   timedelta(seconds=settings.clock_skew_seconds), resolver)


def analyse(raw: bytes, policy: HeaderPolicy, *, verifiable: bool = True, source: str = "original bytes",
            now: datetime | None = None) -> dict[str, Any]:
    """Trace and authentication of one message as a JSON-ready dict; never raises."""
    now = now or datetime.now(UTC)
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM):]  # a saved file's byte order mark: never part of the signed mail
    fields = read_header_fields(raw)  # one split of the header section, for the trace and auth
    trace = trace_headers(fields, policy.trusted, clock_skew=policy.clock_skew, now=now)
    auth = analyse_authentication(raw, policy.resolver, trusted_authserv_ids=policy.trusted_authserv_ids,
                                  verifiable=verifiable, now=now, header_fields=fields)
    return {
        "version": ANALYSIS_VERSION,
        "analysed_at": now.isoformat(),
        "source": source,
        "verifiable": verifiable,
        "trace": trace.to_dict(),
        "auth": auth.to_dict(),
    }
