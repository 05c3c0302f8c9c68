"""The bank's embeddings ship precomputed and checked, and `status` says when the bank is not ready.

No model is loaded here: an embedder that refuses to embed, named like the pinned model, proves the
shipped file covers the whole bank; the stand-in plays the model for the state tests.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from stopit_mail.cases.detect import bank_state
from stopit_mail.cases.detect.bank import Example, index_bank, make_bank, shipped_bank
from stopit_mail.cases.detect.bank_vectors import (
    MANIFEST_FILE,
    VECTORS_FILE,
    OtherModel,
    ShippedVectorsError,
    bank_folder,
    load_shipped,
    quantise,
    read_manifest,
    sentence_key,
    write_shipped,
)
from stopit_mail.cases.detect.detector import Detector
from stopit_mail.cases.detect.model import MODEL_PACKAGE, MODEL_VERSION, WEIGHTS_SHA256, ModelStatus, StandInEmbedder

PINNED = f"{MODEL_PACKAGE}-{MODEL_VERSION}:{WEIGHTS_SHA256[:12]}"
FOLDER = Path(str(bank_folder()))


class RefusingEmbedder:
    """Named like the pinned model; embedding anything fails the test."""

    name = PINNED

    def embed(self, texts):  # type: ignore[no-untyped-def]
        raise AssertionError(f"asked to embed {len(texts)} sentence(s) the shipped file should hold")


needs_built = pytest.mark.skipif(not (FOLDER / MANIFEST_FILE).is_file(),
                                 reason="no precomputed bank embeddings here: python bench/triage_bank_vectors.py")


@needs_built
def test_the_shipped_file_matches_the_bank_and_the_pinned_model() -> None:
    manifest = read_manifest()
    assert manifest.model == PINNED, "rebuild with: python bench/triage_bank_vectors.py"
    assert manifest.bank_digest == shipped_bank().digest, "bank edited: python bench/triage_bank_vectors.py"
    assert hashlib.sha256((FOLDER / VECTORS_FILE).read_bytes()).hexdigest() == manifest.sha256


@needs_built
def test_a_first_start_embeds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stopit_mail.cases.detect import bank as bank_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setattr(bank_module, "_INDEXES", {})
    index = index_bank(shipped_bank(), RefusingEmbedder(), tmp_path / "data-cache")  # type: ignore[arg-type]
    assert index.vectors.shape == (len(shipped_bank().examples), 384)
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-3)
    # Nothing was embedded, so no sentence needed caching either (the bank's fit is kept there:
    # test_triage_fit_cache.py).
    assert not list((tmp_path / "data-cache").glob("triage-bank-*.npz"))
    assert not list((tmp_path / "user-cache").glob("**/triage-bank-*.npz"))


@needs_built
def test_the_category_examples_ship_in_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stopit_mail.cases.detect import category_bank

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setattr(category_bank, "_INDEXES", {})
    examples = category_bank.shipped_category_examples()
    index = category_bank.category_index(examples, RefusingEmbedder(), tmp_path / "data-cache")  # type: ignore[arg-type]
    assert index.vectors.shape == (len(examples), 384)
    assert not (tmp_path / "data-cache").exists()


def _copy_of_the_bank(tmp_path: Path) -> Path:
    """A file of the shipped format for a few sentences (written as the build script writes it)."""
    copy = tmp_path / "bank"
    copy.mkdir()
    sentences = [e.sentence for e in shipped_bank().examples[:40]]
    write_shipped(copy, [sentence_key(t) for t in sentences], StandInEmbedder().embed(sentences), PINNED, "digest")
    return copy


def test_a_corrupt_or_foreign_file_is_refused(tmp_path: Path) -> None:
    copy = _copy_of_the_bank(tmp_path)
    assert len(load_shipped(PINNED, copy)) == read_manifest(copy).rows
    with pytest.raises(OtherModel):
        load_shipped(StandInEmbedder.name, copy)
    payload = bytearray((copy / VECTORS_FILE).read_bytes())
    payload[len(payload) // 2] ^= 0x01
    (copy / VECTORS_FILE).write_bytes(bytes(payload))
    with pytest.raises(ShippedVectorsError, match="SHA-256"):
        load_shipped(PINNED, copy)
    (copy / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ShippedVectorsError, match="unreadable"):
        load_shipped(PINNED, copy)


@needs_built
def test_an_edited_bank_embeds_only_its_new_sentences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stopit_mail.cases.detect import bank as bank_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setattr(bank_module, "_INDEXES", {})
    asked: list[str] = []

    class Counting(RefusingEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            asked.extend(texts)
            return StandInEmbedder().embed(texts)

    edited = make_bank([*shipped_bank().examples[:50], Example("negative", "bullying", "a line added today", "en")])
    index_bank(edited, Counting(), tmp_path / "cache")  # type: ignore[arg-type]
    assert asked == ["a line added today"]


def test_quantised_rows_keep_their_similarities() -> None:
    rows = np.random.default_rng(7).normal(size=(200, 384)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    codes, scales = quantise(rows)
    back = codes.astype(np.float32) * scales[:, None]
    back /= np.linalg.norm(back, axis=1, keepdims=True)
    assert np.abs(back @ rows.T - rows @ rows.T).max() < 0.01


# -- the bank's state, for `stopit status` ---------------------------------------------------------

class GatedStandIn(StandInEmbedder):
    """The stand-in, held until the test opens the gate (a bank that takes minutes to embed)."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.fail = fail

    def embed(self, texts):  # type: ignore[no-untyped-def]
        assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("out of memory in the embedding engine")
        return super().embed(texts)


def _detector(tmp_path: Path, embedder: StandInEmbedder) -> Detector:
    bank = make_bank([Example("emergency", "self-harm", f"probe {tmp_path.name} tonight", "en"),
                      Example("negative", "bullying", f"probe {tmp_path.name} they laughed", "en")])
    return Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=bank, cache_dir=tmp_path / "cache")


def test_the_worker_records_embedding_then_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    embedder = GatedStandIn()
    detector = _detector(tmp_path, embedder)
    detector.warm(background=True)
    for _ in range(200):
        state = bank_state.read(tmp_path / "cache")
        if "embedding 2 of 2" in state["detail"]:
            break
        threading.Event().wait(0.01)
    assert state["state"] == "embedding" and state["since"] is not None
    embedder.gate.set()
    for _ in range(500):
        if bank_state.read(tmp_path / "cache")["state"] == "ready":
            break
        threading.Event().wait(0.01)
    assert bank_state.read(tmp_path / "cache") | {"since": None} == {
        "state": "ready", "detail": "2 reviewed examples ready", "since": None}


def test_a_failed_embedding_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    embedder = GatedStandIn(fail=True)
    embedder.gate.set()
    _detector(tmp_path, embedder).warm()
    state = bank_state.read(tmp_path / "cache")
    assert state["state"] == "failed" and "out of memory in the embedding engine" in state["detail"]


def test_a_worker_that_died_while_embedding_reads_as_failed(tmp_path: Path) -> None:
    bank_state.record(tmp_path, "embedding", "embedding 5000 of 5000 reviewed examples")
    state = json.loads((tmp_path / bank_state.STATE_FILE).read_text())
    state["pid"] = 2 ** 22 + 12345  # above Linux's pid_max: no such process
    (tmp_path / bank_state.STATE_FILE).write_text(json.dumps(state))
    read = bank_state.read(tmp_path)
    assert read["state"] == "failed" and "stopped while embedding" in read["detail"]


def test_stopit_status_says_when_the_bank_is_still_embedding_or_failed(app) -> None:  # type: ignore[no-untyped-def]
    from factories import cli

    config = app.settings.base_dir / "stopit.toml"
    cache = app.settings.data_path / bank_state.CACHE_FOLDER
    out = " ".join(cli(config, "status").split())
    assert "Triage bank: no worker has loaded the reviewed examples yet" in out
    bank_state.record(cache, "embedding", "embedding 4000 of 5000 reviewed examples that the precomputed file lacks")
    out = " ".join(cli(config, "status").split())
    # "for N s": N is 0 unless the machine is busy enough for `status` to take a second or more.
    assert re.search(r"TRIAGE BANK STILL EMBEDDING for \d+ s: embedding 4000 of 5000 reviewed examples that the "
                     r"precomputed file lacks; until it is done reports are triaged on rules only and every report "
                     r"is at least urgent", out)
    assert json.loads(cli(config, "status", "--json"))["triage_bank"]["state"] == "embedding"
    bank_state.record(cache, "failed", "the reviewed examples could not be embedded: disk full")
    out = " ".join(cli(config, "status").split())
    assert "TRIAGE BANK FAILED: the reviewed examples could not be embedded: disk full" in out
    bank_state.record(cache, "ready", "5000 reviewed examples ready")
    assert "Triage bank: 5000 reviewed examples ready" in cli(config, "status")


def test_a_small_bank_leaves_the_cache_of_a_larger_one(tmp_path: Path) -> None:
    """An organisation's few examples (or a test's small bank) embedded with the same model used to
    leave only their own rows in the sentence cache, so the next start re-embedded everything."""
    from stopit_mail.cases.detect.bank import embedded_rows

    asked: list[str] = []

    class Counting(StandInEmbedder):
        name = "counting-stand-in"

        def embed(self, texts):  # type: ignore[no-untyped-def]
            asked.extend(texts)
            return super().embed(texts)

    folder = tmp_path / "cache"
    large = [f"sentence number {i} of the large bank" for i in range(40)]
    first = embedded_rows(large, Counting(), [folder], "test")
    embedded_rows(["one example of an organisation", "and another"], Counting(), [folder], "test")
    asked.clear()
    again = embedded_rows(large, Counting(), [folder], "test")
    assert asked == []
    assert np.array_equal(first, again)
