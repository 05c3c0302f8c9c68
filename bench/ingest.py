"""Ingest throughput: stopit's full pipeline against bare `email.message_from_bytes`, in one run.

Generates N realistic reports (a forwarded original attached as message/rfc822 with 8 Received
headers and a DKIM-Signature, a reporter's note, a PNG screenshot), ingests them into a fresh
SQLite installation (durable commits, DNS offline), and parses the same bytes with the bare
standard-library parser. Prints messages per second for both, the ratio, and peak memory.

    python bench/ingest.py [N]
    python bench/ingest.py --sealing [N]   the cost of sealing anonymous reports at rest
"""

from __future__ import annotations

import base64
import email
import os
import random
import resource
import sys
import tempfile
import time
from email.policy import compat32
from pathlib import Path

from stopit_mail.app import init_installation, open_app
from stopit_mail.ingest.rawstore import Envelope
from stopit_mail.ingest.service import IngestSummary, ingest_one

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def received_chain(rng: random.Random, hops: int = 8) -> str:
    lines = []
    for i in range(hops):
        ip = f"203.0.113.{rng.randint(1, 254)}"
        lines.append(f"Received: from relay{i}.example.net (relay{i}.example.net [{ip}])\r\n"
                     f"\tby mx{i}.example.org (Postfix) with ESMTPS id {rng.getrandbits(40):X}\r\n"
                     f"\tfor <student{i}@example.edu>; Mon, 16 Nov 2026 04:{40 - i:02d}:0{i} +0000\r\n")
    return "".join(lines)


def make_report(index: int, rng: random.Random) -> bytes:
    original = (received_chain(rng) +
                "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=sel; h=from:to:subject;\r\n"
                f"\tbh={base64.b64encode(os.urandom(32)).decode()}; b={base64.b64encode(os.urandom(128)).decode()}\r\n"
                f"From: Sender {index} <sender{index % 50}@example.net>\r\nTo: student{index}@example.edu\r\n"
                f"Subject: message {index}\r\nDate: Mon, 16 Nov 2026 04:41:03 +0000\r\n"
                f"Message-ID: <orig-{index}-{rng.getrandbits(32)}@example.net>\r\n\r\n"
                + "You should leave this school, nobody wants you here.\r\n" * 20)
    boundary = f"b{index}"
    return (f"From: Student {index} <student{index}@example.edu>\r\nTo: stopit@example.edu\r\n"
            f"Subject: Fwd: message {index}\r\nMessage-ID: <report-{index}@example.edu>\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "I keep getting these, the original is attached with a screenshot.\r\n"
            f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n{original}\r\n"
            f"--{boundary}\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=shot.png\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(PNG * 40).decode()}\r\n"
            f"--{boundary}--\r\n").encode()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rng = random.Random(42)
    messages = [make_report(i, rng) for i in range(count)]
    size = sum(len(m) for m in messages) / count

    start = time.perf_counter()
    for content in messages:
        email.message_from_bytes(content, policy=compat32)
    bare_rate = count / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as folder:
        config = init_installation(Path(folder), "Bench University", "stopit@example.edu")
        config.write_text(config.read_text().replace('dns = "online"', 'dns = "offline"')
                          .replace("acks_per_sender_per_hour = 5", "acks_per_sender_per_hour = 100000"))
        app = open_app(config)
        summary = IngestSummary()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        for content in messages:
            ingest_one(app, content, Envelope("file"), summary)
        elapsed = time.perf_counter() - start
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        app.close()
    rate = count / elapsed
    print(f"messages: {count}, mean size {size / 1024:.1f} KiB, processed {summary.processed}, "
          f"quarantined {summary.quarantined}")
    print(f"bare email.message_from_bytes: {bare_rate:10.1f} msg/s")
    print(f"stopit ingest (store+process): {rate:10.1f} msg/s  ({1000 / rate:.1f} ms/message)")
    print(f"ratio stopit / bare parse:     {rate / bare_rate:10.4f}  (bare parse is {bare_rate / rate:.0f}x faster)")
    print(f"peak RSS of the process: {rss_after / 1024:.1f} MiB (grew {(rss_after - rss_before) / 1024:.1f} MiB "
          "during ingest)")


# --- Sealing at rest (issue 10): kept apart from main() above so both can change independently. ---

def _ingest_rate(messages: list[bytes], anonymous: bool) -> tuple[float, IngestSummary]:
    """Messages per second through store+process in a fresh installation, sealing all or none."""
    with tempfile.TemporaryDirectory() as folder:
        config = init_installation(Path(folder), "Bench University", "stopit@example.edu")
        text = (config.read_text().replace('dns = "online"', 'dns = "offline"')
                .replace("acks_per_sender_per_hour = 5", "acks_per_sender_per_hour = 100000")
                .replace("acks_per_domain_per_hour = 20", "acks_per_domain_per_hour = 100000")
                .replace("acks_per_case_per_hour = 50", "acks_per_case_per_hour = 100000"))
        if anonymous:
            text = text.replace("anonymous_by_default = false", "anonymous_by_default = true", 1)
        config.write_text(text)
        app = open_app(config)
        summary = IngestSummary()
        start = time.perf_counter()
        for content in messages:
            ingest_one(app, content, Envelope("file"), summary)
        elapsed = time.perf_counter() - start
        app.close()
    return len(messages) / elapsed, summary


def sealing_cost(count: int) -> None:
    """Ingest the same reports unsealed, then all anonymous (identity, raw bytes and evidence
    sealed with X25519 + AES-GCM, WAL scrubbed); print both rates and their ratio."""
    rng = random.Random(42)
    messages = [make_report(i, rng) for i in range(count)]
    _ingest_rate(messages[: max(5, count // 10)], False)  # warm caches and imports
    plain, plain_summary = _ingest_rate(messages, anonymous=False)
    sealed, sealed_summary = _ingest_rate(messages, anonymous=True)
    print(f"messages: {count}, processed unsealed {plain_summary.processed}, sealed {sealed_summary.processed}")
    print(f"unsealed ingest: {plain:10.1f} msg/s  ({1000 / plain:.1f} ms/message)")
    print(f"sealed ingest:   {sealed:10.1f} msg/s  ({1000 / sealed:.1f} ms/message)")
    print(f"ratio sealed / unsealed: {sealed / plain:.3f}  (sealing costs {1000 / sealed - 1000 / plain:+.1f} ms/message)")


if __name__ == "__main__":
    if "--sealing" in sys.argv:
        arguments = [a for a in sys.argv[1:] if a != "--sealing"]
        sealing_cost(int(arguments[0]) if arguments else 200)
    else:
        main()
