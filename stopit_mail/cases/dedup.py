"""Fingerprints that tell when several reporters forwarded the same offending message.

The Message-ID is the best key when the evidence kept it. Inline forwards lose it, so the
fallback is the normalised sender and body, with quoting, whitespace and case differences
removed: two mail clients forwarding the same message render it differently, and the
fingerprint must not care.
"""

from __future__ import annotations

import hashlib
import re

from stopit_mail.extract.evidence import EvidenceItem

_QUOTE = re.compile(r"^[ \t]*(>[ \t]?)+", re.MULTILINE)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_message_id(value: str) -> str:
    """'<ABC@x>' and 'abc@x' are the same id; the domain part is case-insensitive anyway."""
    return value.strip().strip("<>").strip().lower()


def normalise_body(text: str | None, limit: int = 4000) -> str:
    """Words of the body only: no quoting, punctuation, case or spacing differences."""
    if not text:
        return ""
    unquoted = _QUOTE.sub("", text)
    return _NON_WORD.sub(" ", unquoted.lower()).strip()[:limit]


def message_id_key(item: EvidenceItem) -> str | None:
    """The normalised Message-ID of an offending message, when the evidence kept one."""
    if item.is_message and item.message_id and "@" in item.message_id:
        return normalise_message_id(item.message_id)[:255]
    return None


def content_fingerprint(item: EvidenceItem) -> str | None:
    """Sender and body words, hashed; None when there is too little to go on.

    The date is left out on purpose: inline forwards render it in the reporter's language and
    timezone, so two reporters of one message would rarely agree on it. A minimum body length
    keeps one-word messages ("hi") from joining unrelated cases.
    """
    if not item.is_message or not item.from_address:
        return None
    body = normalise_body(item.body_text)
    if len(body) < 20:
        return None
    key = "|".join(("msg", item.from_address.lower(), body))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
