"""The slicer reads a part's Content-* fields alone, remembered per process (issue 8): the same
type, boundary, file name and transfer encoding as the email package's reading of the whole head."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stopit_mail.extract.rfc822_slice import _header_info, _read_header_info

LINES = st.sampled_from([
    b"Content-Type: multipart/mixed;\r\n", b'\tboundary="b1"\r\n', b" name=x.eml\r\n",
    b"Content-Type: message/rfc822\r\n", b"content-type: text/plain; charset=utf-8\r\n",
    b'Content-Disposition: attachment; filename="a.eml"\r\n', b"Content-Transfer-Encoding: base64\r\n",
    b"CONTENT-TRANSFER-ENCODING: Quoted-Printable\r\n", b"Subject: hi\r\n", b"Received: from x\r\n",
    b":nameless\r\n", b"From someone@example.net Mon\r\n", b"not a field\r\n", b"X-\xff: 8-bit name\r\n",
    b"Content-Type: application/octet-stream; name*=utf-8''f%C3%BC.eml\r\n", b"\r", b"\n",
])


@settings(max_examples=300)
@given(st.lists(LINES, min_size=1, max_size=8), st.sampled_from(["text/plain", "message/rfc822"]))
def test_content_fields_alone_read_as_the_whole_head(lines: list[bytes], default_type: str) -> None:
    block = b"".join(lines)
    assert _header_info(block, default_type) == _read_header_info(block, default_type)
    assert _header_info(block, default_type) == _read_header_info(block, default_type)  # remembered
