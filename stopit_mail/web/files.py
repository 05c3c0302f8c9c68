"""What an uploaded file really is, and a copy of it without metadata.

The type is sniffed from the content with `filetype` (a name or a declared type proves
nothing); only `web.allowed_types` are kept. Photos carry EXIF data (GPS position, phone
model, time) and PNGs carry text chunks: Pillow decodes the image and encodes the pixels
again with none of that, after applying the EXIF orientation so the picture still looks
right. Other types (video, documents) are kept as sent; the form says so.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import filetype
from PIL import Image, ImageOps, UnidentifiedImageError

from stopit_mail.config.web import STRIPPABLE_IMAGES

MAX_PIXELS = 60_000_000
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
               "video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm", "video/3gpp": "3gp",
               "application/pdf": "pdf",
               "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
               "application/vnd.oasis.opendocument.text": "odt"}


class FileRejected(Exception):
    """A file cannot be accepted; `key` names the message shown to the reporter."""

    def __init__(self, key: str, filename: str) -> None:
        super().__init__(f"{key}: {filename}")
        self.key = key
        self.filename = filename


@dataclass(frozen=True)
class CleanFile:
    """A checked file ready to be stored: safe name, sniffed type, bytes without metadata."""

    filename: str
    content_type: str
    content: bytes


def safe_filename(name: str, content_type: str, index: int) -> str:
    """A plain name (no path, no control characters) with the extension of the sniffed type."""
    stem = re.sub(r"[^\w .-]+", "_", Path(name.replace("\\", "/")).stem, flags=re.UNICODE).strip(" ._")[:60]
    return f"{stem or f'file-{index}'}.{_EXTENSIONS.get(content_type, 'bin')}"


def strip_image(content: bytes, content_type: str) -> bytes:
    """The image re-encoded from its pixels alone (no EXIF, GPS, XMP, text chunks or ICC)."""
    fmt = _PIL_FORMATS[content_type]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(content)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ValueError("too many pixels")
            frames = getattr(image, "n_frames", 1)
            if fmt == "GIF" and frames > 1:
                clean = image.copy()
                clean.info = {k: v for k, v in image.info.items() if k in ("duration", "loop")}
                out = io.BytesIO()
                clean.save(out, "GIF", save_all=True)
                return out.getvalue()
            upright = ImageOps.exif_transpose(image) or image
            clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
            if fmt == "JPEG" and clean.mode not in ("RGB", "L", "CMYK"):
                clean = clean.convert("RGB")
            palette = upright.getpalette() if upright.mode == "P" else None
            if palette is not None:
                clean.putpalette(palette)
            out = io.BytesIO()
            clean.save(out, fmt, **({"quality": 92} if fmt in ("JPEG", "WEBP") else {}))
            return out.getvalue()


def inspect_file(path: Path, declared_name: str, allowed: list[str], index: int) -> CleanFile:
    """Sniff, check and clean one uploaded file; raises FileRejected with the reason's key."""
    kind = filetype.guess(str(path))
    content_type = kind.mime if kind is not None else ""
    if content_type not in allowed:
        raise FileRejected("error_file_type", declared_name)
    content = path.read_bytes()
    if content_type in STRIPPABLE_IMAGES:
        try:
            content = strip_image(content, content_type)
        except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as exc:
            raise FileRejected("error_file_broken", declared_name) from exc
    return CleanFile(safe_filename(declared_name, content_type, index), content_type, content)
