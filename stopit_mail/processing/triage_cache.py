"""The model's verdicts on a repeated text, remembered per process (a flood of one message).

A viral message forwarded by hundreds of reporters is the same subject and words each time: the
detector's sentence cache spares the embeddings, but scoring every sentence against the bank
still costs tens of milliseconds per report. A verdict the model actually gave is a function of
the text, the subject, the rules and the detector, so it is kept here under a digest of them and
a copy is handed out again. A rules-only verdict (the model unavailable, still embedding its bank,
or failed on that report) is never kept: it is cheap, and the next report may get the model.
An organisation's own reviewed examples are weighed later, in `process`, on every report.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from stopit_mail.cases.detect.detector import Detector, shared_detector
from stopit_mail.cases.detect.service import CACHE_FOLDER, assess_text
from stopit_mail.cases.triage import CompiledRules
from stopit_mail.cases.triage_decision import TriageDecision
from stopit_mail.config import Settings
from stopit_mail.processing.rules import rules_for

CACHE_SIZE = 2048
_VERDICTS: OrderedDict[bytes, tuple[Detector, CompiledRules, TriageDecision]] = OrderedDict()


def assess(settings: Settings, text: str, subject: str = "") -> TriageDecision:
    """`assess_text` with this configuration's rules, remembered for a text already judged."""
    rules = rules_for(settings)
    detector = shared_detector(settings.data_path / CACHE_FOLDER)
    key = hashlib.sha256(f"{len(subject)}:{subject}\0{text}".encode("utf-8", "surrogatepass")).digest()
    found = _VERDICTS.get(key)
    if found is not None and found[0] is detector and found[1] is rules:
        _VERDICTS.move_to_end(key)
        return found[2].copy()
    decision = assess_text(settings, text, rules, subject=subject)
    if decision.model:
        _VERDICTS[key] = (detector, rules, decision.copy())
        while len(_VERDICTS) > CACHE_SIZE:
            _VERDICTS.popitem(last=False)
    return decision
