"""The readable body of a message (`mime.body_text`): what the forward finder and staff read."""

from __future__ import annotations

import base64

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


def test_html_alternatives_beside_plain_text_are_not_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    # Converting the 3,000 HTML parts took about 2 s; the text/plain is all that is shown. Counted
    # rather than timed: a timed bound fails on a loaded machine and passes on a fast slow path.
    converted: list[str] = []
    real = mime.html_to_text
    monkeypatch.setattr(mime, "html_to_text", lambda html: converted.append(html) or real(html))
    text = mime.body_text(mime.parse_bytes(_alternative(3000)).message, 20, 5000, [])
    assert text.strip() == "Leave this school now."
    assert converted == []


def test_html_only_body_is_still_converted() -> None:
    raw = (b"From: x@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Leave <b>this</b> school.</p>\r\n")
    assert mime.body_text(mime.parse_bytes(raw).message, 20, 5000, []).strip() == "Leave this school."


def _text_part(payload: bytes, charset: str) -> str:
    raw = (f"From: x@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode()
    return mime.body_text(mime.parse_bytes(raw + payload).message, 20, 5000, []).strip()


@pytest.mark.parametrize(("text", "written_as", "label"), [
    # Windows text labelled Latin-1: the quotes and dashes at 0x80-0x9F were control characters.
    ("“Stop” – you’re next", "cp1252", "iso-8859-1"),
    # Chinese mail labelled GB2312 is GBK (堃 is not in GB2312).
    ("堃你别再发了", "gbk", "gb2312"),
    # Korean Outlook's ks_c_5601-1987 is cp949 (갂 is one of its extra syllables).
    ("갂 그만해", "cp949", "ks_c_5601-1987"),
    # Japanese mail labelled Shift_JIS is cp932 (① is an NEC extension).
    ("① もうやめて", "cp932", "shift_jis"),
    # A list converted ISO-2022-JP to EUC-JP and kept the label (SpamAssassin's iso-2022-jp.2).
    ("ああ、困ります", "euc-jp", "iso-2022-jp"),
])
def test_a_narrow_charset_label_reads_the_text_its_writer_sent(text: str, written_as: str, label: str) -> None:
    payload = text.encode(written_as)
    assert payload.decode(label, errors="replace") != text  # the label alone misreads it
    assert _text_part(payload, label) == text


def test_encoded_words_read_with_the_wider_charset() -> None:
    word = base64.b64encode("堃你好".encode("gbk")).decode()
    assert mime.decode_header_value(f"=?gb2312?B?{word}?=") == "堃你好"


def test_utf8_under_a_us_ascii_label_is_still_read_as_utf8() -> None:
    word = base64.b64encode("Léa".encode()).decode()
    assert mime.decode_header_value(f"=?us-ascii?B?{word}?=") == "Léa"


@pytest.mark.parametrize("written_as", ["utf-16-be", "utf-16-le", "utf-16"])
def test_utf16_without_a_byte_order_mark_is_read_in_its_own_order(written_as: str) -> None:
    # Java's and .NET's BigEndianUnicode write no BOM; Python's 'utf-16' read such text as
    # little-endian, so a sender's name came out as CJK-looking noise ('䠀椀 娀漀').
    word = base64.b64encode("Zoë Müller, 你好".encode(written_as)).decode()
    assert mime.decode_header_value(f"=?UTF-16?B?{word}?=") == "Zoë Müller, 你好"
    assert _text_part("Ich weiß, wo du wohnst.".encode(written_as), "utf-16") == "Ich weiß, wo du wohnst."


def test_utf16_with_nothing_to_tell_its_order_is_big_endian() -> None:
    # RFC 2781 4.3: without a BOM, text labelled UTF-16 is big-endian.
    assert mime.decode_bytes("你好".encode("utf-16-be"), "UTF-16") == "你好"
