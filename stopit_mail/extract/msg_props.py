"""MAPI properties of an Outlook .msg, read from its Compound File under a byte budget.

[MS-OXMSG] keeps each variable-size property in a stream ``__substg1.0_PPPPTTTT`` (property id
and type in hex) and the fixed-size ones (integers, times) in ``__properties_version1.0``: a
header, then 16-byte entries of tag, flags and an 8-byte value. A hostile file can declare
streams far bigger than itself or share sectors between thousands of streams, so every read goes
through :class:`StorageBudget`, which refuses a stream over the limit and records why.
"""

from __future__ import annotations

import codecs
import re
import struct

import olefile

from stopit_mail.extract.htmltext import html_to_text

MAX_STREAM_BYTES = 32 * 1024 * 1024
_PT_STRING8, _PT_UNICODE, _PT_BINARY = 0x001E, 0x001F, 0x0102
_PROPERTIES = "__properties_version1.0"
_ENTRY = struct.Struct("<IIQ")
_MESSAGE_CODEPAGE, _INTERNET_CPID = 0x3FFD, 0x3FDE


class StorageBudget:
    """The entries of one open .msg, and how many more bytes may be read from it."""

    def __init__(self, ole: olefile.OleFileIO, problems: list[str], max_bytes: int) -> None:
        self._ole = ole
        self._problems = problems
        self._left = max_bytes
        # Every path once, lower-cased (names in a Compound File compare case-insensitively), and
        # each storage's children: a hostile file may hold thousands of entries, so no lookup
        # below scans them all.
        self._streams = {_key(path): path for path in ole.listdir(streams=True, storages=False)}
        self._storages = {_key(path): path for path in ole.listdir(streams=False, storages=True)}
        self._kids: dict[tuple[str, ...], list[str]] = {}
        for real in self._storages.values():
            self._kids.setdefault(_key(real[:-1]), []).append(real[-1])

    def is_storage(self, path: tuple[str, ...]) -> bool:
        """True when `path` names a storage (a folder of streams)."""
        return _key(path) in self._storages

    def children(self, prefix: tuple[str, ...], pattern: re.Pattern[str]) -> list[str]:
        """Names of the storages directly under `prefix` that match `pattern`, in order."""
        return sorted(name for name in self._kids.get(_key(prefix), []) if pattern.fullmatch(name))

    def read(self, path: tuple[str, ...]) -> bytes | None:
        """A stream's bytes; None when absent, or (with a recorded problem) over the limits."""
        real = self._streams.get(_key(path))
        if real is None:
            return None
        size = self._ole.get_size(real)
        if size > MAX_STREAM_BYTES or size > self._left:
            self._problems.append(f"a {size}-byte part of the .msg over the read limit was skipped")
            return None
        self._left -= size
        with self._ole.openstream(real) as stream:
            data: bytes = stream.read(size)
        return data


class PropertyReader:
    """The properties of one message, attachment or recipient storage."""

    def __init__(self, budget: StorageBudget, prefix: tuple[str, ...], header_size: int) -> None:
        self._budget = budget
        self._prefix = prefix
        self._fixed = _fixed_properties(budget.read((*prefix, _PROPERTIES)) or b"", header_size)

    def _stream(self, prop: int, kind: int) -> bytes | None:
        return self._budget.read((*self._prefix, f"__substg1.0_{prop:04X}{kind:04X}"))

    def text(self, prop: int) -> str:
        """A string property, Unicode or 8-bit (in the message's code page); "" when absent."""
        data = self._stream(prop, _PT_UNICODE)
        if data is not None:
            return data.decode("utf-16-le", "replace").rstrip("\x00")
        data = self._stream(prop, _PT_STRING8)
        if data is not None:
            return data.decode(_codec(self.fixed(_MESSAGE_CODEPAGE)), "replace").rstrip("\x00")
        return ""

    def binary(self, prop: int) -> bytes | None:
        """A binary property, or None when absent."""
        return self._stream(prop, _PT_BINARY)

    def html_text(self, prop: int) -> str:
        """An HTML body (binary, in the Internet code page, or a string) as plain text."""
        data = self.binary(prop)
        html = data.decode(_codec(self.fixed(_INTERNET_CPID)), "replace") if data is not None else self.text(prop)
        return html_to_text(html) if html.strip() else ""

    def fixed(self, prop: int) -> int | None:
        """The 8-byte value of a fixed-size property (an integer or a FILETIME), or None."""
        return self._fixed.get(prop)


def _key(path: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(part.lower() for part in path)


def _fixed_properties(data: bytes, header_size: int) -> dict[int, int]:
    """Property id -> raw value from a properties stream; a short or ragged tail is ignored."""
    values: dict[int, int] = {}
    for offset in range(header_size, len(data) - _ENTRY.size + 1, _ENTRY.size):
        tag, _flags, value = _ENTRY.unpack_from(data, offset)
        values.setdefault(tag >> 16, value)
    return values


def _codec(codepage: int | None) -> str:
    """A Python codec for a Windows code page; cp1252 (Outlook's usual) when unknown."""
    if codepage == 65001:
        return "utf-8"
    try:
        return codecs.lookup(f"cp{codepage}").name if codepage else "cp1252"
    except LookupError:
        return "cp1252"
