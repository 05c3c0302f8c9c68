"""Read a multipart form as it streams in, files straight to disk, limits checked on arrival.

Starlette's `request.form()` would spool whole files before anyone could look at their size;
here python-multipart's push parser is fed chunk by chunk, each file part goes to its own
temporary file, and the moment a file, the total, the number of files or a text field goes
over its limit the parser stops with `FormTooLarge` naming the limit. The caller discards
what was written (the temporary folder is removed with it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

MAX_FIELDS = 40


class FormTooLarge(Exception):
    """A limit was passed while reading; `key` names the message for the reporter."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key
        # The text fields read before the limit was hit (a session token comes first in forms).
        self.fields: dict[str, str] = {}


class FormMalformed(Exception):
    """The body is not a multipart form we can read."""


@dataclass(frozen=True)
class UploadLimits:
    """The limits one form is read under."""

    max_files: int
    max_file_bytes: int
    max_total_bytes: int
    max_field_bytes: int


@dataclass
class UploadedFile:
    """A file part written to disk, not yet checked."""

    field: str
    filename: str
    path: Path
    size: int = 0


@dataclass
class ParsedForm:
    """Text fields (the last value of each name) and the uploaded files, in order."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)


class _Collector:
    """python-multipart callbacks that build a ParsedForm under UploadLimits."""

    def __init__(self, limits: UploadLimits, folder: Path) -> None:
        self.limits = limits
        self.folder = folder
        self.form = ParsedForm()
        self.total = 0
        self.fields_seen = 0
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._file: UploadedFile | None = None
        self._handle: IO[bytes] | None = None
        self._value = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin, "on_header_field": self.header_field,
            "on_header_value": self.header_value, "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self._headers = {}
        self._file = None
        self._value = bytearray()
        self.fields_seen += 1
        if self.fields_seen > MAX_FIELDS:
            raise FormTooLarge("error_too_many_fields")

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def headers_finished(self) -> None:
        _disposition, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in params:
            return
        filename = params[b"filename"].decode("utf-8", "replace")
        # A file input left empty still sends a part, with an empty name and no data.
        if not filename:
            self._name = ""
            return
        if len(self.form.files) >= self.limits.max_files:
            raise FormTooLarge("error_too_many_files")
        upload = UploadedFile(self._name, filename[:200], self.folder / f"upload-{len(self.form.files)}")
        self.form.files.append(upload)
        self._file = upload
        self._handle = upload.path.open("wb")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if self._file is not None and self._handle is not None:
            self._file.size += size
            self.total += size
            if self._file.size > self.limits.max_file_bytes:
                raise FormTooLarge("error_file_too_large")
            if self.total > self.limits.max_total_bytes:
                raise FormTooLarge("error_report_too_large")
            self._handle.write(data[start:end])
        elif self._name:
            self._value += data[start:end]
            if len(self._value) > self.limits.max_field_bytes:
                raise FormTooLarge("error_text_too_long")

    def part_end(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        elif self._name and self._file is None:
            self.form.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


async def read_form(content_type: str, chunks: AsyncIterator[bytes], limits: UploadLimits,
                    folder: Path) -> ParsedForm:
    """Parse a multipart/form-data body into `folder`; raises FormTooLarge or FormMalformed."""
    mime, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise FormMalformed("expected multipart/form-data with a boundary")
    collector = _Collector(limits, folder)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in chunks:
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except FormTooLarge as exc:
        exc.fields = dict(collector.form.fields)
        raise
    except FormMalformed:
        raise
    except ValueError as exc:  # python-multipart's MultipartParseError is a ValueError
        raise FormMalformed(str(exc)) from exc
    finally:
        collector.close()
    return collector.form
