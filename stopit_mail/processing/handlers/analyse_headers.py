"""analyse-headers: trace and verify every evidence message at intake, and keep the result.

Only original bytes can pass or fail DKIM; pasted headers are traced but reported as "not
verifiable (pasted headers)", and inline forwards carry no headers at all, so they are marked
"not verifiable (forwarded inline)" rather than judged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from stopit_mail.config import HeaderSettings
from stopit_mail.headers.analysis import HeaderPolicy, analyse
from stopit_mail.models import Completeness
from stopit_mail.processing.context import Context
from stopit_mail.processing.registry import register


@lru_cache(maxsize=8)
def _policy(trusted: tuple[str, ...], authserv: tuple[str, ...], skew: int, dns: str, timeout: float,
            cache_dir: str) -> HeaderPolicy:
    settings = HeaderSettings(list(trusted), list(authserv), skew, dns, timeout)
    return HeaderPolicy.from_settings(settings, Path(cache_dir))


def policy_for(ctx: Context) -> HeaderPolicy:
    """One policy (and one DNS cache) per configuration, shared by all messages."""
    h = ctx.settings.headers
    return _policy(tuple(h.trusted_relays), tuple(h.trusted_authserv_ids), h.clock_skew_seconds, h.dns,
                   h.dns_timeout_seconds, str(ctx.settings.data_path / "dns-cache"))


@register
class AnalyseHeaders:
    name = "analyse-headers"

    def process(self, ctx: Context) -> None:
        if ctx.extraction is None:
            return
        policy = policy_for(ctx)
        now = datetime.now(UTC)
        for item in ctx.extraction.items:
            if item.completeness is Completeness.FULL and item.content is not None:
                item.analysis = analyse(item.content, policy, now=now)
            elif item.completeness is Completeness.HEADERS and item.header_block:
                block = item.header_block.encode("utf-8", "replace") + b"\r\n"
                item.analysis = analyse(block, policy, verifiable=False, source="pasted headers", now=now)
            elif item.completeness is Completeness.SUMMARY:
                item.analysis = {"verifiable": False, "source": "inline forward",
                                 "auth": {"summary": "not verifiable (forwarded inline): the original bytes are lost"}}
