"""Trace the evidence inside a report, not the report.

A report is the reporter's wrapper around the offending message: tracing the wrapper only
says how the reporter's own mail reached us. ``stopit trace REPORT.eml`` therefore traces the
forwarded original(s) the extractor finds (attached originals with their exact bytes, then
pasted header blocks) and says which one each analysis is of; the wrapper is traced when asked
for, or when the report holds no original with headers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.headers.analysis import HeaderPolicy, analyse
from stopit_mail.models import Completeness


def _label(number: int, kind: str, mime_path: str, sender: str | None, subject: str | None) -> str:
    where = f" at MIME part {mime_path}" if mime_path else ""
    who = f" from {sender}" if sender else ""
    about = f" ({subject!r})" if subject else ""
    return f"forwarded original {number}: {kind}{where}{who}{about}"


def trace_report(raw: bytes, policy: HeaderPolicy, *, wrapper: bool = False,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """One analysis per forwarded original with headers (or of the wrapper), each with a
    ``traced`` sentence saying what it is an analysis of."""
    if not wrapper:
        analyses = []
        extraction = extract_evidence(raw)
        originals = [item for item in extraction.items
                     if (item.completeness is Completeness.FULL and item.content is not None)
                     or (item.completeness is Completeness.HEADERS and item.header_block)]
        for number, item in enumerate(originals, start=1):
            if item.completeness is Completeness.FULL and item.content is not None:
                analysis = analyse(item.content, policy, now=now)
                kind = "attached message (original bytes)"
            else:
                block = (item.header_block or "").encode("utf-8", "replace") + b"\r\n"
                analysis = analyse(block, policy, verifiable=False, source="pasted headers", now=now)
                kind = "Outlook .msg (its transport headers)" if item.kind == "attached-msg" else "pasted headers"
            analysis["traced"] = _label(number, kind, item.mime_path, item.from_address, item.subject)
            analyses.append(analysis)
        if analyses:
            return analyses
        reason = "the message itself: it holds no forwarded original with headers"
    else:
        reason = "the message itself (the wrapper), as asked"
    analysis = analyse(raw, policy, now=now)
    analysis["traced"] = reason
    return [analysis]
