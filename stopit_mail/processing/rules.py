"""Per-process caches the handlers share: compiled triage rules and the header policy.

Compiling rules or building a resolver per message costs more than judging the message, so each
is built once per configuration and process.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from stopit_mail.cases.acknowledgement import report_language
from stopit_mail.cases.detect.language import sentence_languages
from stopit_mail.cases.detect.sentences import PART_BREAK
from stopit_mail.cases.triage import CompiledRules, compile_rules, load_rules
from stopit_mail.config import HeaderSettings, Settings
from stopit_mail.extract.evidence import Extraction
from stopit_mail.headers.analysis import HeaderPolicy

MAX_TRIAGE_CHARS = 200_000


@lru_cache(maxsize=8)
def _rules(extra_key: str, disabled: tuple[str, ...]) -> CompiledRules:
    return compile_rules(load_rules(json.loads(extra_key), disabled=disabled))


def rules_for(settings: Settings) -> CompiledRules:
    """The compiled rule set of this configuration (compiled once per process)."""
    casework = settings.casework
    return _rules(json.dumps(casework.triage_rules, sort_keys=True), tuple(casework.disabled_triage_rules))


def report_text(extraction: Extraction) -> str:
    """What triage reads: the reporter's words and the evidence messages, each marked apart
    (``PART_BREAK``) so that the model never reads the end of one and the start of the next as one."""
    parts = [extraction.wrapper_text]
    for item in extraction.items:
        if item.is_message:
            parts.extend([item.subject or "", item.body_text or ""])
    return f"\n{PART_BREAK}\n".join(p for p in parts if p)[:MAX_TRIAGE_CHARS]


@lru_cache(maxsize=8)
def _policy(trusted: tuple[str, ...], authserv: tuple[str, ...], skew: int, dns: str, timeout: float,
            cache_dir: str) -> HeaderPolicy:
    settings = HeaderSettings(list(trusted), list(authserv), skew, dns, timeout)
    return HeaderPolicy.from_settings(settings, Path(cache_dir))


def policy_for(settings: Settings) -> HeaderPolicy:
    """One policy (and one DNS cache) per configuration, shared by all messages."""
    h = settings.headers
    return _policy(tuple(h.trusted_relays), tuple(h.trusted_authserv_ids), h.clock_skew_seconds, h.dns,
                   h.dns_timeout_seconds, str(settings.data_path / "dns-cache"))


def warm_up(settings: Settings) -> None:
    """Build the per-process caches before the first message, so it is not charged for them
    (compiling the rules takes seconds on a busy machine: longer than a tight time budget)."""
    rules_for(settings)
    policy_for(settings)
    # The language models load on first use: not while the first message holds the write lock.
    # (The acknowledgement's guess and triage's per-sentence languages use one each.)
    report_language("a sentence long enough to need the language model")
    sentence_languages(["a sentence long enough to need the language model"])
