"""Read messages from files, mbox files, Maildir folders and standard input.

Each source yields `(bytes, Envelope)` pairs without parsing the message: parsing belongs to
processing, after the bytes are safely stored. mbox `From ` lines are envelope, not message,
and are dropped; `>From ` quoting inside bodies is left exactly as the file has it.
"""

from __future__ import annotations

import mailbox
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from stopit_mail.errors import StopitError
from stopit_mail.ingest.rawstore import Envelope


class SourceError(StopitError):
    """A path given to ingest is not a readable message, mbox or Maildir."""


def is_maildir(path: Path) -> bool:
    """True for a folder with cur/ and new/ (tmp/ may be missing in copies)."""
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def looks_like_mbox(path: Path) -> bool:
    """An mbox file starts with a 'From ' envelope line; a message file does not."""
    try:
        with path.open("rb") as handle:
            return handle.read(5) == b"From "
    except OSError:
        return False


def iter_mbox(path: Path) -> Iterator[tuple[bytes, Envelope]]:
    """Messages of an mbox file, in order."""
    box = mailbox.mbox(str(path), create=False)
    try:
        for index, key in enumerate(box.iterkeys()):
            content = box.get_bytes(key)
            yield content, Envelope(source="mbox", source_ref=f"{path}#{index}")
    finally:
        box.close()


def iter_maildir(path: Path) -> Iterator[tuple[bytes, Envelope]]:
    """Messages of a Maildir (new/ and cur/), sorted by file name for a stable order."""
    files = sorted(p for sub in ("new", "cur") for p in (path / sub).iterdir() if p.is_file())
    for file in files:
        yield file.read_bytes(), Envelope(source="maildir", source_ref=str(file))


def read_stream(stream: BinaryIO) -> tuple[bytes, Envelope]:
    """One message from a byte stream (a Postfix pipe transport writes it to stdin)."""
    return stream.read(), Envelope(source="stdin", source_ref="-")


def count_messages(path: Path) -> int:
    """How many messages a path holds (for the progress bar); cheap for files and Maildirs."""
    if is_maildir(path):
        return sum(1 for sub in ("new", "cur") for p in (path / sub).iterdir() if p.is_file())
    if path.is_file() and looks_like_mbox(path):
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.startswith(b"From "))
    if path.is_dir():
        return sum(1 for p in path.rglob("*") if p.is_file())
    return 1


def iter_path(path_text: str) -> Iterator[tuple[bytes, Envelope]]:
    """Every message a command-line argument names: '-', a file, an mbox, a Maildir, or a folder
    of those (walked recursively, hidden entries skipped)."""
    if path_text == "-":
        yield read_stream(sys.stdin.buffer)
        return
    path = Path(path_text)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if is_maildir(path):
        yield from iter_maildir(path)
    elif path.is_dir():
        # A plain folder of .eml files (and Maildirs inside it), in a stable order.
        for child in sorted(path.iterdir()):
            if not child.name.startswith("."):
                yield from iter_path(str(child))
    elif looks_like_mbox(path):
        yield from iter_mbox(path)
    else:
        try:
            yield path.read_bytes(), Envelope(source="file", source_ref=str(path))
        except OSError as exc:
            raise SourceError(f"{path}: {exc.strerror}") from exc


# The final MTA records whom it delivered to; the topmost such header is the latest hop.
_DELIVERY_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To")
_HEAD_LIMIT = 256 * 1024


def recipients_from_headers(content: bytes) -> list[str]:
    """The delivery address(es) an MTA wrote into the header (Delivered-To, X-Original-To).

    Files, mboxes and Maildirs carry no SMTP envelope; these headers are how a message
    read from them says which mailbox (and so which organisation) it was sent to. Only the
    header block is read, and only so far, so a huge or hostile file costs little here.
    """
    from email.parser import BytesHeaderParser
    from email.utils import getaddresses

    head = content[:_HEAD_LIMIT]
    end = min((i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0), default=len(head))
    parsed = BytesHeaderParser().parsebytes(head[:end] + b"\n\n")
    for name in _DELIVERY_HEADERS:
        values = [str(v) for v in parsed.get_all(name, [])]
        found = [address.lower() for _name, address in getaddresses(values[:1]) if "@" in address]
        if found:
            return found
    return []
