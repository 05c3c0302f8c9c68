"""Attached originals whose header section real clients damaged still give their sender, subject,
date and body (the bytes stay as they came, for DKIM and the evidence package).

Hand-written reports below follow the three shapes found in the shared corpus (Yahoo's feedback
reports, Outlook's attached items, a client that rewrapped headers); the corpus files themselves
are checked when the corpus sits beside the repository.
"""

from __future__ import annotations

import pytest

from stopit_mail.extract.evidence import extract_evidence

from conftest import corpus_or_skip


def report(original: bytes) -> bytes:
    return (b"From: kim.lee@example.edu\r\nTo: stopit@example.edu\r\nSubject: Fwd: look\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
            b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + original + b"\r\n--b--\r\n")


THREAT = b"You will regret this on Friday.\r\n"
# Yahoo's feedback reports start the original with an escaped mbox line.
MBOX_LINE = (b'>From "granigo.art" Mon Nov 16 21:14:03 2026\r\n'
             b"Received: from mail.granigo.art (mail.granigo.art [198.51.100.23])\r\n\tby mx.example.edu; "
             b"Mon, 16 Nov 2026 21:14:05 +0000\r\nFrom: Sam <sam@granigo.art>\r\nTo: kim.lee@example.edu\r\n"
             b"Subject: friday\r\nDate: Mon, 16 Nov 2026 21:14:03 +0000\r\n\r\n" + THREAT)
# Outlook's attached items: Content-Type and MIME-Version below a blank line.
OUTLOOK_ITEM = (b"From: Sam <sam@granigo.art>\r\nTo: kim.lee@example.edu\r\nSubject: friday\r\n"
                b"Date: Mon, 16 Nov 2026 21:14:03 +0000\r\nContent-Language: en-US\r\nX-MS-Has-Attach:\r\n"
                b"X-MS-TNEF-Correlator:\r\nX-Message-Delivery: Vj0xLjE7dXM9MDtsPTA7YT0xO0Q9MTtHRD0xO1NDTD0tMQ==\r\n\r\n"
                b"Content-Type: multipart/alternative;\r\n\tboundary=\"_000_x_\"\r\nMIME-Version: 1.0\r\n\r\n"
                b"--_000_x_\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                b"WW91IHdpbGwgcmVncmV0IHRoaXMgb24gRnJpZGF5Lg==\r\n\r\n--_000_x_--\r\n")
# A client that rewrapped the header: folds lost their indentation, a blank line slipped in.
REWRAPPED = (b"Received: from mail.granigo.art (mail.granigo.art [198.51.100.23])\r\n"
             b"(using TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384)\r\nby mx.example.edu with ESMTPS id 4A;\r\n"
             b"Mon, 16 Nov 2026 21:14:05 +0000\r\n\r\nFrom: Sam <sam@granigo.art>\r\n"
             b"Subject: =?us-ascii?Q?you_will?=\r\n=?us-ascii?Q?_regret_this?=\r\n"
             b"Date: Mon, 16 Nov 2026 21:14:03 +0000\r\n\r\n" + THREAT)


@pytest.mark.parametrize(("original", "subject", "note"), [
    (MBOX_LINE, "friday", "a line before the header fields was read past"),
    (OUTLOOK_ITEM, "friday", "a blank line inside the header section was read past"),
    (REWRAPPED, "you will regret this", "a folded header line that lost its indentation was read as a fold"),
])
def test_a_damaged_header_section_still_gives_the_offending_message(original: bytes, subject: str, note: str) -> None:
    item = extract_evidence(report(original)).items[0]
    assert item.content == original  # the bytes as they came
    assert (item.from_address, item.subject) == ("sam@granigo.art", subject)
    assert item.date == "Mon, 16 Nov 2026 21:14:03 +0000"
    assert item.body_text is not None and item.body_text.strip() == "You will regret this on Friday."
    assert note in item.problems


def test_a_body_that_looks_like_fields_stays_the_body_of_a_well_formed_original() -> None:
    original = (b"From: Sam <sam@granigo.art>\r\nSubject: minutes\r\nDate: Mon, 16 Nov 2026 21:14:03 +0000\r\n\r\n"
                b"To: everyone in the group\r\nSubject: the trip\r\n\r\nSee you.\r\n")
    item = extract_evidence(report(original)).items[0]
    assert item.subject == "minutes"
    assert item.body_text is not None and item.body_text.startswith("To: everyone in the group")
    assert item.problems == []


@pytest.mark.parametrize(("path", "index", "sender", "body_start"), [
    ("rfc822/abuseio/feedback-loop/Yahoo_example_1.eml", 0, "info@domain3.tld", "Nueva alerta en domain3.tld"),
    ("rfc822/rt/outlook-rfc822", 0, "foo@example.com", "this is a test"),
    ("rfc822/mail-parser-rs-thirdparty/015.eml", 2, "sales@proxmox.com", ""),
])
def test_the_corpus_originals_of_those_shapes(path: str, index: int, sender: str, body_start: str) -> None:
    items = [item for item in extract_evidence(corpus_or_skip(path).read_bytes()).items if item.kind == "attached-message"]
    assert items[index].from_address == sender
    assert (items[index].body_text or "").strip().startswith(body_start)


BOM = b"\xef\xbb\xbf"


def test_a_report_saved_with_a_byte_order_mark_is_read_whole() -> None:
    # Windows tools save .eml files with a UTF-8 byte order mark: the parser took the whole
    # header for body, so the reporter, the subject and the attached original were lost.
    extraction = extract_evidence(BOM + report(MBOX_LINE.split(b"\r\n", 1)[1]))
    assert (extraction.reporter_address, extraction.subject) == ("kim.lee@example.edu", "Fwd: look")
    assert [(item.kind, item.from_address) for item in extraction.items] == [("attached-message", "sam@granigo.art")]
    assert any(defect.startswith("ByteOrderMark") for defect in extraction.defects)


def test_a_signed_message_saved_with_a_byte_order_mark_still_verifies() -> None:
    import base64
    from datetime import timedelta

    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from stopit_mail.headers.analysis import HeaderPolicy, analyse
    from stopit_mail.headers.dns import StaticResolver

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    message = (b"From: Sam <sam@granigo.art>\r\nTo: kim.lee@example.edu\r\nSubject: friday\r\n"
               b"Date: Mon, 16 Nov 2026 21:14:03 +0000\r\n\r\n" + THREAT)
    signed = dkim.sign(message, b"sel", b"granigo.art", private, include_headers=[b"from", b"to", b"subject"]) + message
    policy = HeaderPolicy(None, (), timedelta(seconds=300),
                          StaticResolver({"sel._domainkey.granigo.art": "v=DKIM1; k=rsa; p=" + public}))
    verdicts = [signature["verdict"] for signature in analyse(BOM + signed, policy)["auth"]["dkim"]]
    assert verdicts == ["pass"]


def test_a_forward_inside_an_attached_original_names_the_offender() -> None:
    # A friend forwarded the offending message inline; the reporter attached the friend's mail.
    friend = (b"From: Lena <lena@example.org>\r\nTo: kim.lee@example.edu\r\nSubject: Fwd: friday\r\n"
              b"Date: Mon, 16 Nov 2026 22:00:00 +0000\r\n\r\nLook what Sam sent me\r\n\r\n"
              b"---------- Forwarded message ---------\r\nFrom: Sam <sam@granigo.art>\r\n"
              b"Date: Mon, Nov 16, 2026 at 9:14 PM\r\nSubject: friday\r\nTo: Lena <lena@example.org>\r\n\r\n\r\n" + THREAT)
    carrier, inner = extract_evidence(report(friend)).items
    assert (carrier.kind, carrier.from_address) == ("attached-message", "lena@example.org")
    assert (inner.kind, inner.from_address, inner.subject) == ("inline-forward", "sam@granigo.art", "friday")
    assert (inner.body_text or "").strip() == "You will regret this on Friday."
    assert inner.problems[0] == "forwarded inside the attached message from lena@example.org"
    assert "it forwards a message from sam@granigo.art, listed as evidence after it" in carrier.problems
