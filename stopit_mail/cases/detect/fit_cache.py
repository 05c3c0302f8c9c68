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
from stopit_mail.cases.detect.head import Head
from stopit_mail.cases.detect.space import Space

log = logging.getLogger(__name__)

# Files kept per cache folder: a machine running a few checkouts (or tests beside a service)
# keeps each one's fit instead of refitting in turn; older ones are removed.
KEEP = 4


@dataclass(frozen=True)
class Fit:
    """What is fitted on a bank (``space`` and ``head`` are None where it was too small for one)."""

    hubs: np.ndarray
    space: Space | None
    projected_hubs: np.ndarray | None
    head: Head | None


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


def load_fit(folder: Path, key: str, count: int, dim: int) -> Fit | None:
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
    space = Space(stored["space_mean"], stored["space_matrix"]) if "space_mean" in stored else None
    head = Head(stored["head_mean"], stored["head_weights"], float(stored["head_bias"])) \
        if "head_mean" in stored else None
    return Fit(stored["hubs"], space, stored.get("projected_hubs"), head)


def _consistent(stored: dict[str, np.ndarray], count: int, dim: int) -> bool:
    shapes = {"hubs": (count,), "space_mean": (dim,), "space_matrix": (dim, dim), "projected_hubs": (count,),
              "head_mean": (dim,), "head_weights": (dim,), "head_bias": ()}
    together = [("space_mean", "space_matrix", "projected_hubs"), ("head_mean", "head_weights", "head_bias")]
    if "hubs" not in stored or any(len({name in stored for name in group}) > 1 for group in together):
        return False
    return all(name == "key" or (name in shapes and array.shape == shapes[name] and np.isfinite(array).all())
               for name, array in stored.items())


def store_fit(folder: Path, key: str, fit: Fit) -> None:
    """Keep ``fit`` under ``key`` (written whole then renamed; an error is logged, not raised)."""
    arrays: dict[str, np.ndarray] = {"key": np.array(key), "hubs": fit.hubs}
    if fit.space is not None and fit.projected_hubs is not None:
        arrays |= {"space_mean": fit.space.mean, "space_matrix": fit.space.matrix,
                   "projected_hubs": fit.projected_hubs}
    if fit.head is not None:
        arrays |= {"head_mean": fit.head.mean, "head_weights": fit.head.weights,
                   "head_bias": np.array(fit.head.bias, dtype=np.float64)}
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
