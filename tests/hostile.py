"""Hostile and broken messages, built in code so the repository holds no huge files."""

from __future__ import annotations

import io
import zipfile


def headers(extra: str = "") -> bytes:
    return (f"From: Someone <someone@example.org>\r\nTo: stopit@example.edu\r\n"
            f"Subject: test\r\nMIME-Version: 1.0\r\n{extra}").encode()


def broken_boundary() -> bytes:
    return headers('Content-Type: multipart/mixed; boundary="right"\r\n') + (
        b"\r\n--wrong\r\nContent-Type: text/plain\r\n\r\nhello\r\n--wrong--\r\n")


def missing_close_boundary() -> bytes:
    return headers('Content-Type: multipart/mixed; boundary="b"\r\n') + (
        b"\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y.example\r\nSubject: cut off\r\n")


def unknown_charset() -> bytes:
    return headers('Content-Type: text/plain; charset="x-klingon"\r\n') + b"\r\nQapla' \xe2\x80\x94 \xff\r\n"


def lying_charset() -> bytes:
    return headers('Content-Type: text/plain; charset="us-ascii"\r\n') + "\r\nné à ü 你好\r\n".encode()


def eight_bit_headers() -> bytes:
    return (b"From: Ren\xe9 <ren\xe9@example.org>\r\nTo: stopit@example.edu\r\nSubject: caf\xe9 \xff\xfe\r\n"
            b"\r\nbody\r\n")


def no_headers() -> bytes:
    return b"\r\njust a body, no headers at all\r\n"


def nul_bytes() -> bytes:
    return headers("Content-Type: text/plain\r\n") + b"\r\nbefore\x00after\x00\x00\r\n"


def bad_encoded_words() -> bytes:
    return (b"From: =?utf-8?B?!!!notbase64?= <a@example.org>\r\nSubject: =?x-unknown?Q?=FF=FE?= "
            b"=?utf-8?q?unterminated\r\nTo: unlisted-recipients:; (no To-header on input)\r\n\r\nbody\r\n")


def deep_multipart(depth: int = 100) -> bytes:
    out = headers('Content-Type: multipart/mixed; boundary="b0"\r\n') + b"\r\n"
    for level in range(1, depth):
        out += f"--b{level - 1}\r\nContent-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n".encode()
    out += f"--b{depth - 1}\r\nContent-Type: text/plain\r\n\r\ninnermost\r\n".encode()
    for level in range(depth - 1, -1, -1):
        out += f"--b{level}--\r\n".encode()
    return out


def deep_rfc822(depth: int = 100) -> bytes:
    inner = b"From: deepest@example.org\r\nSubject: bottom\r\n\r\nthe bottom\r\n"
    for level in range(depth):
        inner = (f"From: level{level}@example.org\r\nSubject: level {level}\r\nMIME-Version: 1.0\r\n"
                 f"Content-Type: message/rfc822\r\n\r\n").encode() + inner
    return headers("Content-Type: message/rfc822\r\n") + b"\r\n" + inner


def big_attachment(megabytes: int = 50) -> bytes:
    import base64
    import os

    payload = base64.encodebytes(os.urandom(megabytes * 1024 * 1024)).replace(b"\n", b"\r\n")
    return headers('Content-Type: multipart/mixed; boundary="big"\r\n') + (
        b"\r\n--big\r\nContent-Type: text/plain\r\n\r\nsee the video\r\n--big\r\n"
        b"Content-Type: video/mp4\r\nContent-Disposition: attachment; filename=\"clip.mp4\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n") + payload + b"--big--\r\n"


def zip_bomb() -> bytes:
    import base64

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("zeros.bin", b"\0" * (200 * 1024 * 1024))
    encoded = base64.encodebytes(buffer.getvalue()).replace(b"\n", b"\r\n")
    return headers('Content-Type: multipart/mixed; boundary="z"\r\n') + (
        b"\r\n--z\r\nContent-Type: text/plain\r\n\r\nfiles\r\n--z\r\nContent-Type: application/zip\r\n"
        b"Content-Disposition: attachment; filename=\"photos.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ) + encoded + b"--z--\r\n"


SMALL_CASES = {
    "broken-boundary": broken_boundary,
    "missing-close-boundary": missing_close_boundary,
    "unknown-charset": unknown_charset,
    "lying-charset": lying_charset,
    "eight-bit-headers": eight_bit_headers,
    "no-headers": no_headers,
    "empty": lambda: b"",
    "nul-bytes": nul_bytes,
    "bad-encoded-words": bad_encoded_words,
    "deep-multipart-100": deep_multipart,
    "deep-rfc822-100": deep_rfc822,
    "deep-rfc822-1000": lambda: deep_rfc822(1000),
}
