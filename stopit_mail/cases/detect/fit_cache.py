"""What is fitted on the bank's rows (hubness, the metric space, the head), kept on disk per machine.

Fitting is quadratic in the bank's size: with about 9,000 examples it costs 10-20 s of CPU, and
every process that triages paid it at start-up (``stopit serve``'s worker child, each restart, each
test server), so a report arriving then waited for it. The result depends only on the rows, their
labels and the fitting code, so it is stored in the per-user cache under a key made of exactly
those: another bank, other rows (another model) or an edit of the fitting code misses the cache
and fits again. A file that is unreadable, inconsistent or made for another key is ignored.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stopit_mail.cases.detect import head as head_module
from stopit_mail.cases.detect import space as space_module

log = logging.getLogger(__name__)

# Files kept per cache folder: a machine running a few checkouts (or tests beside a service)
# keeps each one's fit instead of refitting in turn; older ones are removed.
KEEP = 4


@dataclass(frozen=True)
class FittedArrays:
    """The fitted pieces as plain arrays (``None`` where the bank was too small to fit one)."""

    hubs: np.ndarray
    space_mean: np.ndarray | None
    space_matrix: np.ndarray | None
    projected_hubs: np.ndarray | None
    head_mean: np.ndarray | None
    head_weights: np.ndarray | None
    head_bias: float | None


def fit_key(vectors: np.ndarray, labels: np.ndarray, fitting_source: bytes) -> str:
    """The key of a fit: the rows, the labels and the code that fits them."""
    digest = hashlib.sha256()
    for part in (np.ascontiguousarray(vectors, dtype=np.float32).tobytes(),
                 np.ascontiguousarray(labels, dtype=np.int8).tobytes(), fitting_source):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def fitting_source(*extra: str) -> bytes:
    """The source of the fitting modules plus ``extra`` (the hubness function's source)."""
    parts = [Path(module.__file__).read_bytes() for module in (space_module, head_module) if module.__file__]
    return b"\0".join(parts + [text.encode() for text in extra])


def _path(folder: Path, key: str) -> Path:
    return folder / f"triage-fit-{key[:32]}.npz"


def load_fit(folder: Path, key: str, count: int, dim: int) -> FittedArrays | None:
    """The fit stored under ``key`` in ``folder``, or None (absent, unreadable or inconsistent)."""
    path = _path(folder, key)
    try:
        # Opened here, not by name: np.load leaves its own handle open when the file is no zip.
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
            stored = {name: data[name] for name in data.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("triage fit cache %s unreadable (%s); fitting again", path, exc)
        return None
    if str(stored.get("key", "")) != key or not _consistent(stored, count, dim):
        log.warning("triage fit cache %s does not match this bank; fitting again", path)
        return None

    def optional(name: str) -> np.ndarray | None:
        return stored[name] if name in stored else None

    bias = optional("head_bias")
    return FittedArrays(stored["hubs"], optional("space_mean"), optional("space_matrix"),
                        optional("projected_hubs"), optional("head_mean"), optional("head_weights"),
                        None if bias is None else float(bias))


def _consistent(stored: dict[str, np.ndarray], count: int, dim: int) -> bool:
    shapes = {"hubs": (count,), "space_mean": (dim,), "space_matrix": (dim, dim), "projected_hubs": (count,),
              "head_mean": (dim,), "head_weights": (dim,), "head_bias": ()}
    if "hubs" not in stored or ("space_mean" in stored) != ("space_matrix" in stored):
        return False
    for name, array in stored.items():
        if name == "key":
            continue
        if name not in shapes or array.shape != shapes[name] or not np.isfinite(array).all():
            return False
    return True


def store_fit(folder: Path, key: str, fitted: FittedArrays) -> None:
    """Keep ``fitted`` under ``key`` (written whole then renamed; an error is logged, not raised)."""
    arrays: dict[str, np.ndarray] = {"key": np.array(key), "hubs": fitted.hubs}
    for name in ("space_mean", "space_matrix", "projected_hubs", "head_mean", "head_weights"):
        value = getattr(fitted, name)
        if value is not None:
            arrays[name] = value
    if fitted.head_bias is not None:
        arrays["head_bias"] = np.array(fitted.head_bias, dtype=np.float64)
    path = _path(folder, key)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
        np.savez(partial, **arrays)  # type: ignore[arg-type]
        partial.replace(path)
        _prune(folder)
    except OSError as exc:
        log.warning("cannot write triage fit cache %s: %s", path, exc)


def _prune(folder: Path) -> None:
    fits = sorted((p for p in folder.glob("triage-fit-*.npz") if ".partial" not in p.name),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for old in fits[KEEP:]:
        old.unlink(missing_ok=True)
