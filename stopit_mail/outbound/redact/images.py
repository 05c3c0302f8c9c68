"""Image metadata stripping with Pillow: EXIF (GPS, author, device), XMP, ICC, comments.

The pixels are copied into a fresh image and saved in the same format with no metadata at
all, so the result still decodes everywhere and carries nothing but the picture. Images Pillow
cannot open are reported as such; the caller leaves them out.
"""

from __future__ import annotations

import io
import warnings

# Formats we write back as themselves; anything else Pillow opens is re-encoded as PNG.
_KEEP = {"JPEG": "JPEG", "PNG": "PNG", "GIF": "GIF", "WEBP": "WEBP", "BMP": "BMP", "TIFF": "PNG"}
_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp", "BMP": "image/bmp"}
MAX_PIXELS = 60_000_000


class ImageUnreadable(Exception):
    """The bytes are not an image Pillow can decode safely."""


def strip_metadata(content: bytes) -> tuple[bytes, str]:
    """(clean bytes, content type) of an image with every metadata block removed."""
    from PIL import Image, UnidentifiedImageError  # only when an image is handled: staff commands load no Pillow

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as opened:
                image: Image.Image = opened
                if image.width * image.height > MAX_PIXELS:
                    raise ImageUnreadable("image too large to re-encode")
                image.load()
                fmt = _KEEP.get(image.format or "", "PNG")
                mode = image.mode
                if fmt == "JPEG" and mode not in ("RGB", "L", "CMYK"):
                    image = image.convert("RGB")
                elif mode == "P" and fmt != "GIF":
                    image = image.convert("RGBA")
                clean = Image.frombytes(image.mode, image.size, image.tobytes())
                if image.mode == "P":
                    palette = image.getpalette()
                    if palette:
                        clean.putpalette(palette)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageUnreadable(str(exc) or exc.__class__.__name__) from exc
    out = io.BytesIO()
    options = {"quality": 95} if fmt == "JPEG" else {}
    clean.save(out, format=fmt, **options)
    return out.getvalue(), _MIME.get(fmt, "image/png")


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def metadata(content: bytes) -> dict[str, str]:
    """Metadata blocks found in an image (name -> text), for the leak guard; {} if none or unreadable."""
    from PIL import Image, UnidentifiedImageError  # only when an image is handled: staff commands load no Pillow

    found: dict[str, str] = {}
    try:
        with Image.open(io.BytesIO(content)) as image:
            for key, value in image.info.items():
                if key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "photoshop") or \
                        isinstance(value, str | bytes):
                    found[str(key)] = _text(value)
            exif = image.getexif()
            if len(exif):
                found["exif"] = " ".join(_text(v) for v in exif.values())
            gps = exif.get_ifd(0x8825)
            if gps:
                found["gps"] = " ".join(_text(v) for v in gps.values())
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return {}
    return found
