"""Rebuild the shipped bank's precomputed embeddings (``triage_bank/embeddings.npz`` + ``.json``).

Run after any edit of ``stopit_mail/cases/triage_bank/*.tsv`` or a change of the pinned model;
``tests/test_triage_bank_vectors.py`` fails until the file matches the bank and the model. Rows
come from the pinned model itself (through the per-user sentence cache, never from the shipped file,
so quantisation never compounds); only sentences not seen before are embedded.

    python bench/triage_bank_vectors.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from stopit_mail.cases.detect.bank import _load_cached, _store_cached, embed_in_batches, shipped_bank, user_cache_dir
from stopit_mail.cases.detect.bank_vectors import bank_folder, sentence_key, write_shipped
from stopit_mail.cases.detect.model import shared_embedder


def main() -> int:
    embedder, status = shared_embedder()
    if embedder is None:
        print(f"model unavailable: {status.detail}", file=sys.stderr)
        return 1
    bank = shipped_bank()
    started = time.perf_counter()
    known = _load_cached(embedder, user_cache_dir())
    keys = [sentence_key(e.sentence) for e in bank.examples]
    texts = {sentence_key(e.sentence): e.sentence for e in bank.examples}
    missing = [k for k in dict.fromkeys(keys) if k not in known]
    for key, row in zip(missing, embed_in_batches(embedder, [texts[k] for k in missing]), strict=True):
        known[key] = row
    vectors = np.vstack([known[k] for k in keys]).astype(np.float32)
    if missing:
        _store_cached(embedder, user_cache_dir(), keys, vectors)
    unique = list(dict.fromkeys(keys))
    rows = np.vstack([known[k] for k in unique]).astype(np.float32)
    manifest = write_shipped(Path(str(bank_folder())), unique, rows, embedder.name, bank.digest)
    print(f"{manifest.rows} rows ({len(missing)} embedded now, {time.perf_counter() - started:.1f} s); "
          f"sha256 {manifest.sha256}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
