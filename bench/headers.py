"""Header analysis cost: stopit's trace + DKIM/ARC analysis against bare dkimpy, in one run.

Signs M messages (8 Received hops each) with a generated RSA-2048 key, then measures, over the
same messages and the same static DNS answers:
- bare dkimpy: `dkim.DKIM(raw).verify(dnsfunc=...)`
- stopit `trace_message` alone, `verify_dkim` alone, and the full `analyse` (trace + DKIM + ARC
  + Authentication-Results + alignment)
Prints operations per second, per-message cost, and the full analysis' cost beyond bare
verification (target: under 2 ms for an 8-hop, 1-signature message).

    python bench/headers.py [M]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from stopit_mail.headers.analysis import HeaderPolicy, analyse
from stopit_mail.headers.auth import verify_dkim
from stopit_mail.headers.dns import StaticResolver
from stopit_mail.headers.trace import trace_message


def make_key() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64

    return private, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()


def make_message(index: int, private: bytes) -> bytes:
    hops = "".join(
        f"Received: from relay{i}.example.net (relay{i}.example.net [203.0.113.{i + 10}])\r\n"
        f"\tby mx{i}.example.org (Postfix) with ESMTPS id A{index}B{i}\r\n"
        f"\tfor <student@example.edu>; Mon, 16 Nov 2026 04:{41 - i:02d}:00 +0000\r\n" for i in range(8))
    body = (f"From: Sender <sender@example.net>\r\nTo: student@example.edu\r\nSubject: bench {index}\r\n"
            f"Date: Mon, 16 Nov 2026 04:30:00 +0000\r\nMessage-ID: <b{index}@example.net>\r\n\r\n"
            + "Leave this school.\r\n" * 30).encode()
    signature = dkim.sign(body, b"sel", b"example.net", private, include_headers=[b"from", b"to", b"subject", b"date"])
    return hops.encode() + signature + body


def rate(label: str, messages: list[bytes], func: Callable[[bytes], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for raw in messages:
            func(raw)
        best = min(best, time.perf_counter() - start)
    per = best / len(messages) * 1000
    print(f"{label:34s} {len(messages) / best:9.0f} msg/s  {per:7.3f} ms/message")
    return per


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    private, record = make_key()
    messages = [make_message(i, private) for i in range(count)]
    txt = {"sel._domainkey.example.net": record}
    resolver = StaticResolver(txt)
    policy = HeaderPolicy(None, (), timedelta(minutes=5), resolver)
    now = datetime.now(UTC) + timedelta(minutes=1)

    def bare(raw: bytes) -> object:
        return dkim.DKIM(raw).verify(dnsfunc=lambda name, timeout=5: record.encode())

    assert bare(messages[0]) is True
    assert verify_dkim(messages[0], resolver, now)[0].verdict == "pass"
    print(f"{count} messages, 8 Received hops and one rsa-sha256 DKIM signature each")
    base = rate("bare dkimpy DKIM.verify", messages, bare)
    rate("stopit trace_message", messages, lambda raw: trace_message(raw, now=now))
    dkim_cost = rate("stopit verify_dkim", messages, lambda raw: verify_dkim(raw, resolver, now))
    full = rate("stopit full analyse()", messages, lambda raw: analyse(raw, policy, now=now))
    print(f"verify_dkim overhead beyond bare dkimpy: {dkim_cost - base:+.3f} ms/message "
          f"(ratio {dkim_cost / base:.2f})")
    print(f"full analysis beyond bare verification:  {full - base:+.3f} ms/message (target < 2 ms) "
          f"(ratio {full / base:.2f})")


if __name__ == "__main__":
    main()
