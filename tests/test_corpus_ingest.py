"""Every file of the shared third-party corpus ingests without an unhandled exception."""

from __future__ import annotations

import collections
from pathlib import Path

from sqlalchemy import select

from stopit_mail.ingest.rawstore import Envelope
from stopit_mail.ingest.service import IngestSummary, ingest_one
from stopit_mail.models import RawMessage

from conftest import corpus_or_skip, make_installation


def test_every_corpus_file_ingests(tmp_path: Path) -> None:
    corpus = corpus_or_skip()
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    app = make_installation(tmp_path)
    summary = IngestSummary()
    for path in files:
        ingest_one(app, path.read_bytes(), Envelope("file", source_ref=str(path)), summary)
    with app.factory() as session:
        statuses = collections.Counter(r.value for r in session.scalars(select(RawMessage.status)))
        reasons = collections.Counter(
            (r or "").split(":")[0] for r in session.scalars(select(RawMessage.reason).where(RawMessage.reason.is_not(None))))
    app.close()
    print(f"\ncorpus: {len(files)} files, {summary.stored} stored, {summary.duplicates} duplicate bytes, "
          f"statuses {dict(statuses)}, quarantine reasons {dict(reasons)}, cases {len(summary.cases)}")
    assert summary.stored + summary.duplicates == len(files)
    assert statuses.get("received", 0) == 0
