"""A reporter named in UTF-16 or UTF-32 text without a byte order mark never reaches an office.

Red team (non-negotiable 2). "=?utf-16?b?...?=" leaves the byte order unsaid: RFC 2781 says
big-endian, browsers and Thunderbird read little-endian, Python reads little-endian. A harasser's
subject or body written big-endian read in Python as CJK ("Kim" as "䬀椀洀"), so redaction and the
leak guard saw no name, while a reader that follows the RFC showed it to the office. The checker
here decodes every encoded word and body of the output in both byte orders itself.
"""

from __future__ import annotations

import base64
import re
from email import policy
from email.message import Message
from email.parser import BytesParser

import pytest
from redaction_helpers import guard_finds, referral_of

from stopit_mail.app import App

_WORD = re.compile(rb"=\?([^?]+)\?[bB]\?([^?]*)\?=")


def _word(text: str, codec: str) -> bytes:
    label = codec.split("-")[0] + "-" + codec.split("-")[1]  # "utf-16-be" -> "utf-16": the order unsaid
    return f"=?{label}?b?".encode() + base64.b64encode(text.encode(codec)) + b"?="


def _evidence(codec: str) -> bytes:
    label = codec.rsplit("-", 1)[0]
    return (b"From: " + _word("Alex", codec) + b" <offender@example.net>\r\nTo: class-11b@example.org\r\n"
            b"Subject: " + _word("Kim Park is a liar", codec) + b"\r\nDate: Mon, 16 Nov 2026 04:41:03 +0000\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=" + label.encode() +
            b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            base64.encodebytes("Everyone: Kim Park lies about everything.\r\n".encode(codec)) + b"\r\n")


def _both_orders(raw: bytes) -> str:
    """Every encoded word and UTF-16/32 body in the raw output, decoded both ways, and the rest as ASCII."""
    texts = [raw.decode("ascii", "replace")]
    for _label, payload in _WORD.findall(raw):
        data = base64.b64decode(payload + b"==")
        texts += [data.decode(c, "replace") for c in ("utf-8", "utf-16-be", "utf-16-le", "utf-32-be", "utf-32-le")]
    message = BytesParser(policy=policy.default).parsebytes(raw)
    for part in message.walk():
        texts += _part_texts(part)
    return "\n".join(texts).casefold()


def _part_texts(part: Message) -> list[str]:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return []
    if (part.get_filename() or "").endswith(".eml") or part.get_content_type() == "message/rfc822":
        return [_both_orders(payload)]
    return [payload.decode(c, "replace") for c in ("utf-8", "utf-16-be", "utf-16-le", "utf-32-be", "utf-32-le")]


@pytest.mark.parametrize("codec", ["utf-16-be", "utf-16-le", "utf-32-be"])
def test_a_name_in_utf16_or_utf32_without_a_bom_is_scrubbed_from_a_referral(app: App, codec: str) -> None:
    shown = _both_orders(referral_of(app, _evidence(codec)))
    assert "lies about everything" in shown and "is a liar" in shown
    for trace in ("kim", "park"):
        assert not re.search(rf"(?<![^\W_]){trace}(?![^\W_])", shown), (codec, trace)


@pytest.mark.parametrize("codec", ["utf-16-be", "utf-32-be"])
def test_the_guard_reads_utf16_without_a_bom_both_ways(codec: str) -> None:
    assert guard_finds("evidence.eml", "message/rfc822", _evidence(codec))
