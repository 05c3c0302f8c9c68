"""Every file of the shared third-party corpus ingests without an unhandled exception.

One test per top folder of the corpus (and one for the files at its root), each on its own
installation: together they ingest every file, as one test did, and pytest-xdist can spread
them over its workers.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from sqlalchemy import select

from stopit_mail.ingest.rawstore import Envelope
from stopit_mail.ingest.service import IngestSummary, ingest_one
from stopit_mail.models import RawMessage

from conftest import CORPUS, corpus_or_skip, make_installation

ROOT = "(root)"
PARTS = (sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) + [ROOT]) if CORPUS.is_dir() else [ROOT]


def corpus_files(part: str) -> list[Path]:
    """Every file under one top folder of the corpus, or the files at its root."""
    corpus = corpus_or_skip()
    if part == ROOT:
        return sorted(p for p in corpus.iterdir() if p.is_file())
    return sorted(p for p in (corpus / part).rglob("*") if p.is_file())


def test_the_parts_cover_the_whole_corpus() -> None:
    corpus = corpus_or_skip()
    assert sorted(p for part in PARTS for p in corpus_files(part)) == sorted(p for p in corpus.rglob("*") if p.is_file())


@pytest.mark.parametrize("part", PARTS)
def test_every_corpus_file_ingests(tmp_path: Path, part: str) -> None:
    files = corpus_files(part)
    app = make_installation(tmp_path)
    summary = IngestSummary()
    for path in files:
        ingest_one(app, path.read_bytes(), Envelope("file", source_ref=str(path)), summary)
    with app.factory() as session:
        statuses = collections.Counter(r.value for r in session.scalars(select(RawMessage.status)))
        reasons = collections.Counter(
            (r or "").split(":")[0] for r in session.scalars(select(RawMessage.reason).where(RawMessage.reason.is_not(None))))
    app.close()
    print(f"\ncorpus {part}: {len(files)} files, {summary.stored} stored, {summary.duplicates} duplicate bytes, "
          f"statuses {dict(statuses)}, quarantine reasons {dict(reasons)}, cases {len(summary.cases)}")
    assert summary.stored + summary.duplicates == len(files)
    assert statuses.get("received", 0) == 0
