"""Signed forms, check-back sessions and the response headers every page carries.

Forms carry a single-use token signed with the installation's web key (`web.secret_file`,
created with mode 0600 on first start): a token older than two hours, signed with another
key, meant for another form, or already used is refused, which also stops a double submit.
Used tokens are remembered in memory until they would have expired anyway.

After a reporter enters a correct receipt code the page carries a signed session token naming
the receipt (never the code), valid for `web.session_minutes`; no cookie holds it and no
server-side session exists. A POST coming from another site (Sec-Fetch-Site or Origin) is
refused before any of that.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path

from itsdangerous import BadData, URLSafeTimedSerializer

from stopit_mail.config import Settings

FORM_MAX_AGE = 2 * 3600
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def secret_path(settings: Settings) -> Path:
    """Where the web key lives."""
    path = Path(settings.web.secret_file)
    return path if path.is_absolute() else settings.data_path / path


def load_or_create_secret(settings: Settings) -> bytes:
    """The key that signs forms and sessions, created (0600) when missing."""
    path = secret_path(settings)
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()  # another process created it meanwhile
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_hex(32).encode())
    return path.read_bytes().strip()


class Signer:
    """Issues and checks single-use form tokens and check-back session tokens."""

    def __init__(self, secret: bytes, session_seconds: int) -> None:
        self._forms = URLSafeTimedSerializer(secret, salt="stopit-web-form")
        self._sessions = URLSafeTimedSerializer(secret, salt="stopit-web-session")
        self._session_seconds = session_seconds
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def form_token(self, purpose: str) -> str:
        """A fresh token for one form (`purpose` names the form it is good for)."""
        return self._forms.dumps({"n": secrets.token_urlsafe(16), "p": purpose})

    def use_form_token(self, token: str, purpose: str) -> bool:
        """Accept a token once: valid signature, right form, not expired, not used before."""
        try:
            data = self._forms.loads(token, max_age=FORM_MAX_AGE)
        except BadData:
            return False
        if not isinstance(data, dict) or data.get("p") != purpose:
            return False
        nonce = str(data.get("n"))
        now = time.monotonic()
        with self._lock:
            if nonce in self._used:
                return False
            if len(self._used) > 10_000:
                for key in [k for k, until in self._used.items() if until < now]:
                    del self._used[key]
            self._used[nonce] = now + FORM_MAX_AGE
        return True

    def session_token(self, receipt_id: int) -> str:
        """A token that opens the check-back page of one receipt for a while."""
        return self._sessions.dumps({"r": receipt_id})

    def session_receipt(self, token: str) -> int | None:
        """The receipt a session token opens, or None when it is forged or expired."""
        try:
            data = self._sessions.loads(token, max_age=self._session_seconds)
        except BadData:
            return None
        receipt = data.get("r") if isinstance(data, dict) else None
        return receipt if isinstance(receipt, int) else None


def cross_site(headers: dict[str, str], host: str) -> bool:
    """Whether a request says it comes from another site (browsers send these headers)."""
    fetch_site = headers.get("sec-fetch-site", "")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return True
    origin = headers.get("origin", "")
    if origin and origin != "null":
        return origin.split("://", 1)[-1].rstrip("/") != host
    return False
