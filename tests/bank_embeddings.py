"""Whether the bank's generated embeddings match the bank, for the tests of the real model.

Those tests score against the whole shipped bank, which the model would take minutes to embed;
they run where ``bench/triage_bank_vectors.py`` has built the rows for this very bank (`.ci/run`
builds them before the suite) and skip, saying how to build them, anywhere else.
"""

from __future__ import annotations

import pytest

from stopit_mail.cases.detect.bank import shipped_bank
from stopit_mail.cases.detect.bank_vectors import ShippedVectorsError, read_manifest


def built_for_this_bank() -> bool:
    try:
        return read_manifest().bank_digest == shipped_bank().digest
    except (ShippedVectorsError, OSError, ValueError, KeyError):  # none built, or for another bank
        return False


needs_bank_embeddings = pytest.mark.skipif(
    not built_for_this_bank(),
    reason="no precomputed bank embeddings for this bank: python bench/triage_bank_vectors.py")
