"""The readable body of a message (`mime.body_text`): what the forward finder and staff read."""

from __future__ import annotations

import time

import pytest

from stopit_mail.extract import mime


def _alternative(html_parts: int) -> bytes:
    """A multipart/alternative with one text/plain and many HTML alternatives (the shape of
    flanker's enclosed-endless.eml, whose attached message has 3,038 of them)."""
    html = "<html><body>" + "<div><p>Leave this school <b>now</b>.</p></div>" * 20 + "</body></html>"
    parts = ["--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLeave this school now.\r\n"]
    parts += [f"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"] * html_parts
    return ("From: x@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative; boundary=b\r\n\r\n" + "".join(parts) + "--b--\r\n").encode()


@pytest.mark.serial  # timed: another test on the other core would skew it
def test_html_alternatives_beside_plain_text_are_not_converted() -> None:
    parsed = mime.parse_bytes(_alternative(3000))
    started = time.perf_counter()
    text = mime.body_text(parsed.message, 20, 5000, [])
    # Converting the 3,000 HTML parts took about 2 s; the text/plain is all that is shown.
    assert time.perf_counter() - started < 0.5
    assert text.strip() == "Leave this school now."


def test_html_only_body_is_still_converted() -> None:
    raw = (b"From: x@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Leave <b>this</b> school.</p>\r\n")
    assert mime.body_text(mime.parse_bytes(raw).message, 20, 5000, []).strip() == "Leave this school."
