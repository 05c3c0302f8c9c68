"""The offline multilingual emergency detector (issue 9).

``model`` loads the pinned sentence-embedding model and checks it; ``sentences`` cleans a report and
cuts it into sentences; ``language`` identifies each sentence's language; ``bank`` loads the
reviewed example sentences and their embeddings; ``scoring`` compares sentences with examples;
``tiers`` turns all that plus the rules into an urgency; ``detector`` runs the lot per report.
"""

from stopit_mail.cases.detect.bank import Example
from stopit_mail.cases.detect.detector import Detector, shared_detector
from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder, model_status

__all__ = ["Detector", "Example", "ModelStatus", "StandInEmbedder", "model_status", "shared_detector"]
