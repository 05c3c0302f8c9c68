"""The evidence package as files: writing it one file at a time, unpacking it, verifying it.

Kept apart from `cases.export` (which reads the database) and free of SQLAlchemy and the
configuration: `stopit verify-export` runs for anyone who holds a package, on nothing but the
package, and a staff member's command writes the package it received from the service with
these same writers. A writer takes each file as it is made and keeps only its listing, so a
large case never sits in memory whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from stopit_mail.errors import StopitError

MANIFEST = "manifest.json"
# How much of a file is read at a time when copying or hashing a package.
CHUNK = 1 << 16


class ExportError(StopitError):
    """The package could not be written, or a package does not verify."""


def check_new_target(output: Path) -> None:
    """Refuse to write over anything: a .zip must not exist, a folder must be new or empty."""
    if output.suffix.lower() == ".zip":
        if output.exists():
            raise ExportError(f"{output} exists; choose a new name")
    elif output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ExportError(f"{output} is not empty; choose a new folder")


@dataclass
class PackageWriter:
    """Receives a package's files one by one; remembers each file's path, size and SHA-256."""

    listed: list[dict[str, Any]] = field(default_factory=list)
    withheld: list[dict[str, str]] = field(default_factory=list)

    def add(self, path: str, content: bytes) -> None:
        _check_member(path)
        self._write(path, content)
        self.listed.append({"path": path, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()})

    def listing(self) -> list[dict[str, Any]]:
        """The files written so far, sorted by path (the manifest's order)."""
        return sorted(self.listed, key=lambda f: str(f["path"]))

    def close(self) -> None:
        """Finish writing (a zip writes its central directory)."""

    def _write(self, path: str, content: bytes) -> None:
        raise NotImplementedError


class FolderWriter(PackageWriter):
    """Writes each file under a new (or empty) folder."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def _write(self, path: str, content: bytes) -> None:
        target = self.folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


class ZipWriter(PackageWriter):
    """Writes each file into a zip archive on an open binary file."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__()
        self.archive = zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED)

    def _write(self, path: str, content: bytes) -> None:
        self.archive.writestr(path, content)

    def close(self) -> None:
        self.archive.close()


def _check_member(name: str) -> None:
    """A path inside a package: relative, no '..', no empty part (it must not leave its folder)."""
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise ExportError(f"unsafe path in the package: {name!r}")


def unpack_zip(stream: IO[bytes], folder: Path) -> None:
    """Write the files of a zipped package into `folder` (new or empty), one file at a time."""
    check_new_target(folder)
    with zipfile.ZipFile(stream) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            _check_member(info.filename)
            target = folder / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, target.open("xb") as sink:
                shutil.copyfileobj(source, sink, CHUNK)


def _digest_files(source: Path) -> dict[str, str]:
    """Each file of a package (folder or zip) -> its SHA-256, read in chunks."""
    digests: dict[str, str] = {}
    if source.is_file():
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    with archive.open(info) as stream:
                        digests[info.filename] = _sha256(stream)
        return digests
    for path in sorted(source.rglob("*")):
        if path.is_file():
            with path.open("rb") as stream:
                digests[path.relative_to(source).as_posix()] = _sha256(stream)
    return digests


def _sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _read_manifest(source: Path) -> bytes:
    try:
        if source.is_file():
            with zipfile.ZipFile(source) as archive:
                return archive.read(MANIFEST)
        return (source / MANIFEST).read_bytes()
    except (KeyError, FileNotFoundError):
        raise ExportError(f"{source} has no {MANIFEST}: not an evidence package") from None
    except zipfile.BadZipFile as exc:
        raise ExportError(f"{source} is neither a package folder nor a readable zip: {exc}") from None


@dataclass(frozen=True)
class Verification:
    """What `verify_package` found: problems empty means every byte is as exported."""

    case: str
    manifest_sha256: str
    files: int
    problems: list[str]
    manifest: dict[str, Any]


def verify_package(source: Path) -> Verification:
    """Check every file against the manifest: changed, missing and extra files are problems."""
    manifest_bytes = _read_manifest(source)
    try:
        manifest = json.loads(manifest_bytes)
        listed = {f["path"]: f for f in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{MANIFEST} is not readable: {exc}") from exc
    files = _digest_files(source)
    files.pop(MANIFEST, None)
    problems = []
    for path, entry in sorted(listed.items()):
        digest = files.get(path)
        if digest is None:
            problems.append(f"missing: {path}")
        elif digest != entry["sha256"]:
            problems.append(f"changed: {path} (SHA-256 differs from the manifest)")
    problems.extend(f"not in the manifest: {path}" for path in sorted(set(files) - set(listed)))
    return Verification(str(manifest.get("case")), hashlib.sha256(manifest_bytes).hexdigest(), len(listed),
                        problems, manifest)
