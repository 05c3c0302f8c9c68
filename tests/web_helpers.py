"""Helpers for the web door tests: an installation with a report page, a running server, forms."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from PIL import Image

from stopit_mail.app import App, open_app
from stopit_mail.web.server import WebServer

from conftest import make_installation

ACCESS_CODE = "north-high-2026"
WEB_LIMITS = """
[web]
max_files = 3
max_file_bytes = 300000
max_report_bytes = 500000
"""


def web_installation(folder: Path, database_url: str = "", extra: str = "", org_extra: str = "") -> App:
    """An installation whose organisation has a web access code and small upload limits.

    `extra` is added to [web]; `org_extra` (e.g. escalation chain tables) to the organisation.
    """
    make_installation(folder, database_url).close()
    config = folder / "stopit.toml"
    text = config.read_text().replace('web_access_code = ""', f'web_access_code = "{ACCESS_CODE}"')
    text = text.replace("\n[limits]", org_extra + "\n[limits]", 1)
    head, _, _web = text.partition("\n[web]\n")
    config.write_text(head + WEB_LIMITS + extra)
    return open_app(config)


@contextmanager
def running(app: App, on_stored=None) -> Iterator[WebServer]:  # type: ignore[no-untyped-def]
    """The web door of `app` on a free loopback port."""
    server = WebServer(app, on_stored=on_stored, host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def field(html: str, name: str) -> str:
    """The value of a hidden input."""
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field in page"
    return match.group(1)


def receipt_code(html: str) -> str:
    match = re.search(r'<p class="code" id="receipt-code"[^>]*>([^<]+)</p>', html)
    assert match, "no receipt code in page"
    return match.group(1).strip()


NO_FILE = [("files", ("", b"", "application/octet-stream"))]


def post_form(client: httpx.Client, url: str, fields: dict[str, str],
              files: list[tuple[str, tuple[str, bytes, str]]] | None = None, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
    """POST as a browser does: multipart/form-data, an empty file part when no file is chosen."""
    return client.post(url, data=fields, files=files or NO_FILE, **kwargs)


def report(client: httpx.Client, text: str = "A boy in 9B keeps posting my photos with insults.",
           files: list[tuple[str, tuple[str, bytes, str]]] | None = None, **extra: str) -> httpx.Response:
    """Open the report page and send a report (anonymous unless `identity` says otherwise)."""
    page = client.get(f"/r/{ACCESS_CODE}")
    assert page.status_code == 200
    fields = {"csrf": field(page.text, "csrf"), "text": text, "identity": "anonymous", **extra}
    return post_form(client, f"/r/{ACCESS_CODE}", fields, files)


def jpeg_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A real JPEG carrying EXIF with a camera model and GPS position."""
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x0110] = "SecretPhone 12"  # Model
    exif[0x8825] = {1: "N", 2: (40.0, 26.0, 46.0), 3: "W", 4: (79.0, 58.0, 56.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()
