"""What every web request shares: the installation, signer, counters and receipt book.

Also the steps every POST takes before its handler sees a field: refuse cross-site posts and
bodies announced as too large, read the form into a private temporary folder under limits,
and spend the form's single-use token.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request

from stopit_mail.app import App
from stopit_mail.config import Organisation
from stopit_mail.config.web import file_budget
from stopit_mail.web.ratelimit import Counters
from stopit_mail.web.receipts import ReceiptBook
from stopit_mail.web.security import Signer, cross_site, load_or_create_secret
from stopit_mail.web.uploads import FormMalformed, FormTooLarge, ParsedForm, UploadLimits, read_form

# Room for the text fields and multipart framing on top of the files.
FORM_OVERHEAD_BYTES = 256 * 1024


class Refused(Exception):
    """A request refused before its handler ran; `key` is the message, `status` the HTTP status."""

    def __init__(self, key: str, status: int, fields: dict[str, str] | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.status = status
        self.fields = fields or {}


@dataclass
class WebState:
    """Shared by all requests of one web door."""

    app: App
    signer: Signer
    book: ReceiptBook = field(default_factory=ReceiptBook)
    counters: Counters = field(default_factory=Counters)
    on_stored: Callable[[], None] | None = None

    @classmethod
    def create(cls, app: App, on_stored: Callable[[], None] | None = None,
               book: ReceiptBook | None = None) -> WebState:
        secret = load_or_create_secret(app.settings)
        signer = Signer(secret, app.settings.web.session_minutes * 60)
        return cls(app, signer, book or ReceiptBook(), Counters(), on_stored)

    @property
    def upload_root(self) -> Path:
        path = self.app.settings.data_path / "web-uploads"
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    def limits(self) -> UploadLimits:
        web = self.app.settings.web
        budget = file_budget(self.app.settings)
        return UploadLimits(web.max_files, min(web.max_file_bytes, budget), budget, 4 * web.max_text_chars + 1024)

    def organisation_by_key(self, key: str) -> Organisation | None:
        """The organisation whose web access code this is, or a listed organisation's slug."""
        for org in self.app.settings.organisations:
            if org.web_access_code and org.web_access_code.lower() == key.lower():
                return org
            if org.web_listed and org.slug == key:
                return org
        return None


def client_of(request: Request) -> str:
    """The client address, used only as a key for in-memory counters (never stored or logged)."""
    return request.client.host if request.client else "unknown"


@asynccontextmanager
async def posted_form(state: WebState, request: Request, purpose: str) -> AsyncIterator[tuple[ParsedForm, Path]]:
    """Read a POSTed form into a temporary folder (removed afterwards) and spend its token."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    if cross_site(headers, request.url.netloc):
        raise Refused("error_cross_site", 403)
    limits = state.limits()
    announced = headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limits.max_total_bytes + FORM_OVERHEAD_BYTES:
        raise Refused("error_report_too_large", 413)
    folder = Path(tempfile.mkdtemp(dir=state.upload_root))
    try:
        chunks = request.stream()
        try:
            form = await read_form(headers.get("content-type", ""), chunks, limits, folder)
        except FormTooLarge as exc:
            # Nothing more is written; read (and drop) a bounded rest so the browser, still
            # sending, receives the explanation instead of a reset connection.
            await _drain(chunks, 2 * limits.max_total_bytes + FORM_OVERHEAD_BYTES)
            raise Refused(exc.key, 413, exc.fields) from exc
        except FormMalformed as exc:
            raise Refused("error_bad_form", 400) from exc
        if not state.signer.use_form_token(form.fields.get("csrf", ""), purpose):
            raise Refused("error_form_expired", 400, form.fields)
        yield form, folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _drain(chunks: AsyncIterator[bytes], cap: int) -> None:
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > cap:
            break
