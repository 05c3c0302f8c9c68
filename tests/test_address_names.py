"""A display name that is itself an address, unquoted ("alice@example.com <bob@example.com>"),
is read as mail clients read it: the name of the address in angle brackets after it.

Phishers write a trusted address as the name in front of their own; Outlook cuts a long name
short ("jang.abcdef@xyzlinu <jang.abcdef@xyzlinux12345678.it>"). The email package reads two
mailboxes there, and the first, the name, became the alleged sender.
"""

from __future__ import annotations

import time

import pytest

from stopit_mail.extract import mime
from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.headers.alignment import from_domains

from conftest import corpus_or_skip


def _attached(original: bytes) -> bytes:
    return (b"From: Kim <kim@school.example>\r\nTo: report@stopit.example\r\nSubject: Fwd: look\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
            b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + original + b"\r\n--b--\r\n")


def test_the_bracketed_address_is_the_sender_of_an_attached_original() -> None:
    original = (b"From: principal@school.example <mallory@elsewhere.example>\r\n"
                b"To: kim@school.example, Kim@Home <kim@home.example>, pat@school.example\r\n"
                b"Subject: detention\r\n\r\nSee me after class.\r\n")
    item = extract_evidence(_attached(original)).items[0]
    assert (item.from_name, item.from_address) == ("principal@school.example", "mallory@elsewhere.example")
    assert item.to == [["", "kim@school.example"], ["Kim@Home", "kim@home.example"], ["", "pat@school.example"]]


def test_quoted_names_and_plain_lists_read_as_before() -> None:
    values = ('"Doe, jo@x.example" <a@b.example>', "a@b.example, c@d.example", "Bob <b@x.example>")
    assert [mime.quote_address_names(v) for v in values] == list(values)


def test_alignment_reads_one_from_domain() -> None:
    assert from_domains(["principal@school.example <mallory@elsewhere.example>"]) == ["elsewhere.example"]


def test_many_at_signs_are_read_in_linear_time() -> None:
    started = time.perf_counter()
    mime.quote_address_names("a@" * 30_000 + " <x@y.example>" + ", b@c" * 5_000)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(("path", "sender"), [
    (("received", "spamscope", "mail_test_15.eml"), "do-not-reply@ncs.gov.ng"),
    (("malformed", "mimekit", "issue358.txt"), "jang.abcdef@xyzlinux12345678.it"),
    (("malformed", "spamscope", "mail_test_19.eml"), "bob@example.com"),
])
def test_corpus_originals_name_the_bracketed_sender(path: tuple[str, ...], sender: str) -> None:
    original = corpus_or_skip(*path).read_bytes()
    assert extract_evidence(_attached(original)).items[0].from_address == sender
