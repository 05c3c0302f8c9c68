"""The offline multilingual emergency detector (issue 9).

``model`` loads the pinned sentence-embedding model and checks it; ``sentences`` cleans a report and
cuts it into sentences; ``language`` identifies each sentence's language; ``bank`` loads the
reviewed example sentences and their embeddings; ``scoring`` compares sentences with examples;
``tiers`` turns all that plus the rules into an urgency; ``detector`` runs the lot per report.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stopit_mail.cases.detect.bank import Example
    from stopit_mail.cases.detect.detector import Detector, shared_detector
    from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder, model_status

# Loaded on first use (PEP 562): `stopit status` reads `detect.model` without numpy and the bank.
_HOMES = {"Example": "bank", "Detector": "detector", "shared_detector": "detector", "ModelStatus": "model",
          "StandInEmbedder": "model", "model_status": "model"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


__all__ = ["Detector", "Example", "ModelStatus", "StandInEmbedder", "model_status", "shared_detector"]
