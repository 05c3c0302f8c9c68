"""analyse-headers: trace and verify every evidence message at intake, and keep the result.

Only original bytes can pass or fail DKIM; pasted headers are traced but reported as "not
verifiable (pasted headers)", and inline forwards carry no headers at all, so they are marked
"not verifiable (forwarded inline)" rather than judged. Runs outside the transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from stopit_mail.headers.analysis import analyse
from stopit_mail.models import Completeness
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register
from stopit_mail.processing.rules import policy_for


@register
class AnalyseHeaders(Step):
    name = "analyse-headers"

    def prepare(self, ctx: Context) -> None:
        assert ctx.extraction is not None, "extract-evidence must run first"
        policy = policy_for(ctx.settings)
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
