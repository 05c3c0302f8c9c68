"""Rebuild the shipped bank's precomputed embeddings (``triage_bank/embeddings.npz`` + ``.json``).

Run after any edit of ``stopit_mail/cases/triage_bank/*.tsv`` (or of the category examples,
``triage_categories/*.tsv``, whose rows ship in the same file) or a change of the pinned model;
``tests/test_triage_bank_vectors.py`` fails until the file matches the bank and the model. Rows
come from the pinned model itself (through the per-user sentence cache, never from the shipped file,
so quantisation never compounds); only sentences not seen before are embedded.

    python bench/triage_bank_vectors.py [--jobs N]

The model runs on one core; ``--jobs`` embeds in N processes (default: every core), which is what
the test command (`.ci/run`) does before the suite so that the tests of the real model run there too.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from stopit_mail.cases.detect.bank import (
    _load_cached,
    _store_cached,
    as_cached,
    embed_in_batches,
    shipped_bank,
    user_cache_dir,
)
from stopit_mail.cases.detect.bank_vectors import bank_folder, sentence_key, write_shipped
from stopit_mail.cases.detect.category_bank import shipped_category_examples
from stopit_mail.cases.detect.model import shared_embedder


def _embed_share(texts: list[str]) -> np.ndarray:
    """One process's share of the sentences (it loads and checks the model itself)."""
    embedder, status = shared_embedder()
    if embedder is None:
        raise RuntimeError(f"model unavailable: {status.detail}")
    return embed_in_batches(embedder, texts)


def embed_all(texts: list[str], jobs: int) -> np.ndarray:
    """Rows for ``texts`` in order, embedded in ``jobs`` processes (in this one when 1)."""
    if jobs <= 1 or len(texts) < 256:
        return _embed_share(texts)
    size = -(-len(texts) // jobs)
    shares = [texts[i:i + size] for i in range(0, len(texts), size)]
    with ProcessPoolExecutor(max_workers=len(shares)) as pool:
        return np.vstack(list(pool.map(_embed_share, shares)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes embedding new sentences (default: every core)")
    jobs = parser.parse_args().jobs
    embedder, status = shared_embedder()
    if embedder is None:
        print(f"model unavailable: {status.detail}", file=sys.stderr)
        return 1
    bank = shipped_bank()
    # The category examples' rows ship in the same file (looked up per sentence, as the bank's).
    examples = bank.examples + shipped_category_examples()
    started = time.perf_counter()
    known = _load_cached(embedder, user_cache_dir())
    keys = [sentence_key(e.sentence) for e in examples]
    texts = {sentence_key(e.sentence): e.sentence for e in examples}
    missing = [k for k in dict.fromkeys(keys) if k not in known]
    # Rounded as the cache keeps them: a build from the cache and a fresh one write the same file.
    fresh = as_cached(embed_all([texts[k] for k in missing], jobs))
    for key, row in zip(missing, fresh, strict=True):
        known[key] = row
    vectors = np.vstack([known[k] for k in keys]).astype(np.float32)
    if missing:
        _store_cached(embedder, user_cache_dir(), keys, vectors)
    unique = list(dict.fromkeys(keys))
    rows = np.vstack([known[k] for k in unique]).astype(np.float32)
    manifest = write_shipped(Path(str(bank_folder())), unique, rows, embedder.name, bank.digest)
    print(f"{manifest.rows} rows ({len(missing)} embedded now in {min(jobs, max(len(missing), 1))} "
          f"process(es), {time.perf_counter() - started:.1f} s); "
          f"sha256 {manifest.sha256}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
