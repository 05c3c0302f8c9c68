"""The shipped bank's embeddings, precomputed, so a first start does not embed for minutes.

Embedding the bank's thousands of sentences takes minutes on one busy core; a new installation
would triage on the rules alone (every report at least *urgent*) until that is done. So the rows
ship beside the bank as ``triage_bank/embeddings.npz`` (int8 with a scale per row: the file stays
small and cosine similarities move by well under 0.005), described by ``embeddings.json``: the
file's SHA-256, the model that computed the rows and the bank digest they were built from.

A row is used only when the manifest's model is the model loaded now and the file's SHA-256 is the
manifest's: a corrupt or foreign file is ignored loudly and the bank is embedded as before. Rows are
looked up per sentence, so an edited bank embeds only its new sentences until the file is rebuilt
(``python bench/triage_bank_vectors.py``; ``tests/test_triage_bank_vectors.py`` fails until then).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

VECTORS_FILE = "embeddings.npz"
MANIFEST_FILE = "embeddings.json"


class ShippedVectorsError(Exception):
    """The shipped embeddings cannot be trusted (checksum, model or shape); the message says why."""


class OtherModel(ShippedVectorsError):
    """The shipped rows come from another model than the one loaded (the tests' stand-in, say)."""


@dataclass(frozen=True)
class Manifest:
    """What ``embeddings.json`` says about ``embeddings.npz``."""

    sha256: str
    model: str
    bank_digest: str
    rows: int

    def to_json(self) -> str:
        return json.dumps({"file": VECTORS_FILE, "sha256": self.sha256, "model": self.model,
                           "bank_digest": self.bank_digest, "rows": self.rows}, indent=2) + "\n"


def sentence_key(sentence: str) -> str:
    """A bank sentence's key in every embedding cache (the exact text, hashed)."""
    return hashlib.sha256(sentence.encode()).hexdigest()[:32]


def bank_folder() -> Any:
    from stopit_mail.cases.detect.bank import BANK_FOLDER, BANK_PACKAGE  # noqa: PLC0415 - no import cycle

    return resources.files(BANK_PACKAGE).joinpath(BANK_FOLDER)


def read_manifest(folder: Any = None) -> Manifest:
    folder = folder if folder is not None else bank_folder()
    try:
        data = json.loads(folder.joinpath(MANIFEST_FILE).read_text(encoding="utf-8"))
        return Manifest(str(data["sha256"]), str(data["model"]), str(data["bank_digest"]), int(data["rows"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ShippedVectorsError(f"{MANIFEST_FILE} unreadable: {exc}") from exc


def load_shipped(model: str, folder: Any = None) -> dict[str, np.ndarray]:
    """Sentence key -> float32 row from the shipped file, checked; ShippedVectorsError if unusable."""
    folder = folder if folder is not None else bank_folder()
    manifest = read_manifest(folder)
    if manifest.model != model:
        raise OtherModel(f"{VECTORS_FILE} was computed by {manifest.model}, not {model}")
    try:
        payload = folder.joinpath(VECTORS_FILE).read_bytes()
    except OSError as exc:
        raise ShippedVectorsError(f"{VECTORS_FILE} unreadable: {exc}") from exc
    actual = hashlib.sha256(payload).hexdigest()
    if actual != manifest.sha256:
        raise ShippedVectorsError(f"{VECTORS_FILE} has SHA-256 {actual[:16]}..., its manifest says "
                                  f"{manifest.sha256[:16]}...")
    try:
        import io  # noqa: PLC0415

        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            keys, codes, scales = data["keys"], data["codes"], data["scales"]
    except (OSError, ValueError, KeyError) as exc:
        raise ShippedVectorsError(f"{VECTORS_FILE} unreadable: {exc}") from exc
    if codes.ndim != 2 or not len(keys) == len(codes) == len(scales) == manifest.rows:
        raise ShippedVectorsError(f"{VECTORS_FILE} holds inconsistent arrays")
    rows = codes.astype(np.float32) * scales.astype(np.float32)[:, None]
    rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    return {k.decode("ascii"): row for k, row in zip(keys, rows, strict=True)}


def shipped_rows(model: str) -> dict[str, np.ndarray]:
    """The rows built for ``model`` beside the bank, or {} (logged) when absent or untrusted.

    The file is generated (`python bench/triage_bank_vectors.py`) and not kept in git: a clone
    without it embeds the bank at first start, as before, with every report at least urgent meanwhile.
    """
    if not bank_folder().joinpath(MANIFEST_FILE).is_file():
        log.info("no precomputed triage bank embeddings (python bench/triage_bank_vectors.py builds them): "
                 "embedding the bank")
        return {}
    try:
        return load_shipped(model)
    except OtherModel as exc:
        log.info("precomputed triage bank embeddings not used: %s", exc)
        return {}
    except ShippedVectorsError as exc:
        log.error("precomputed triage bank embeddings not used (%s): embedding the bank instead", exc)
        return {}


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and a float32 scale per row (the largest component maps to 127)."""
    scales = np.maximum(np.abs(vectors).max(axis=1), 1e-12) / 127.0
    codes = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales.astype(np.float32)


def write_shipped(folder: Path, keys: Sequence[str], vectors: np.ndarray, model: str, bank_digest: str) -> Manifest:
    """Write ``embeddings.npz`` and its manifest into ``folder`` (the build script's job)."""
    import io  # noqa: PLC0415

    codes, scales = quantise(vectors.astype(np.float32))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, keys=np.array([k.encode("ascii") for k in keys], dtype="S32"),
                        codes=codes, scales=scales)
    payload = buffer.getvalue()
    manifest = Manifest(hashlib.sha256(payload).hexdigest(), model, bank_digest, len(keys))
    (folder / VECTORS_FILE).write_bytes(payload)
    (folder / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    return manifest
