"""Describe an attached file as evidence: sniffed type, size, SHA-256, and what it claims.

The declared Content-Type is the sender's claim; the sniffed type comes from the bytes. A
mismatch is recorded (a ".jpg" that is really an executable matters). Archives are never
expanded, so a zip bomb costs only its compressed size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import filetype

_ARCHIVES = {"application/zip", "application/x-tar", "application/gzip", "application/x-7z-compressed",
             "application/x-rar-compressed", "application/x-bzip2", "application/x-xz"}


@dataclass
class FileFacts:
    """What the bytes of an attachment are, independent of what the sender declared."""

    size: int
    sha256: str
    sniffed_type: str | None
    problems: list[str] = field(default_factory=list)


def describe_file(content: bytes, declared_type: str | None, filename: str | None) -> FileFacts:
    """Sniff and hash an attachment; note a declared/sniffed type mismatch and archives."""
    digest = hashlib.sha256(content).hexdigest()
    sniffed = None
    try:
        kind = filetype.guess(content[:8192])
        sniffed = kind.mime if kind else None
    except Exception:  # noqa: BLE001 - sniffing is advisory
        sniffed = None
    problems: list[str] = []
    declared = (declared_type or "").lower()
    generic = declared in ("", "application/octet-stream", "application/x-unknown")
    if sniffed and not generic and sniffed.split("/")[0] != declared.split("/")[0]:
        problems.append(f"type mismatch: declared {declared}, content looks like {sniffed}")
    if sniffed in _ARCHIVES:
        problems.append("archive: kept as is, not expanded")
    if sniffed in ("application/x-msdownload", "application/x-executable", "application/x-elf"):
        problems.append("executable content: never open it")
    return FileFacts(len(content), digest, sniffed, problems)
