"""The SMTP conversation in the server log, without a reporter in it (`stopit serve --verbose`).

aiosmtpd logs every command line (`MAIL FROM:<address>`, `RCPT TO:<stopit+code@...>`), every
reply (ours quote a refused recipient) and, at debug level, every line of DATA. Verbose logging
is for seeing what a client does, not whom it speaks for, so a filter on aiosmtpd's `mail.log`
logger replaces every address with a keyed hash (`[address 3f9a0c12e4]`: equal addresses look
equal within one run of the server, and the key is random per process, so the log cannot be
matched against a list of addresses afterwards) and drops the DATA lines and the raw line echo.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets

from stopit_mail.outbound.redact.errors import ADDRESS_PATTERN

# Message text and the line echo that repeats each command: never logged.
_DROPPED = ("DATA readline", "_handle_client readline")


class RedactAddresses(logging.Filter):
    """Rewrites each record of aiosmtpd's logger with every address hashed; drops message text."""

    def __init__(self) -> None:
        super().__init__("mail.log")
        self._key = secrets.token_bytes(32)

    def _hash(self, match: re.Match[str]) -> str:
        digest = hmac.new(self._key, match.group(0).lower().encode("utf-8", "replace"), hashlib.sha256)
        return f"[address {digest.hexdigest()[:10]}]"

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(_DROPPED):
            return False
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            text = str(record.msg)
        record.msg, record.args = ADDRESS_PATTERN.sub(self._hash, text), None
        return True


def install() -> None:
    """Put the filter on aiosmtpd's logger (once per process)."""
    logger = logging.getLogger("mail.log")
    if not any(isinstance(f, RedactAddresses) for f in logger.filters):
        logger.addFilter(RedactAddresses())
