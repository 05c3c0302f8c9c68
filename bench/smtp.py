"""Accept throughput of the listener, against a bare aiosmtpd handler, in one run.

Usage: python bench/smtp.py [--messages-per-run N] [--size BYTES] [--concurrency 1,8,32]

Both servers run in this process on 127.0.0.1: ours with its durable SQLite store (WAL,
synchronous=FULL, group commit; the worker is NOT running, so this measures accepting only;
the interpreter tuned as `stopit serve` tunes it), and a bare
aiosmtpd handler whose handle_DATA only counts and answers 250. The clients run in a separate
process (so they do not compete with the servers for the GIL): asyncio clients, each
reusing its own connection for many distinct messages, sent one after the other. Accept latency
is the time from sending DATA to reading the final reply. Prints messages per second, p50
and p99 latency, and our rate as a share of the bare handler's.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stopit_mail.app import init_installation, open_app  # noqa: E402
from stopit_mail.server import MailServer, tune_interpreter  # noqa: E402


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CountingHandler:
    """The bare baseline: count and say 250."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def make_message(run: str, client: int, number: int, size: int) -> bytes:
    """A distinct report-like message of about `size` bytes."""
    head = (
        f"From: Reporter {client} <reporter{client}@example.org>\r\n"
        f"To: stopit@example.edu\r\nSubject: Fw: bench {run} {client} {number}\r\n"
        f"Message-ID: <bench-{run}-{client}-{number}@example.org>\r\n\r\n"
        f"Please help ({run}/{client}/{number}).\r\n"
    )
    filler = ("lorem ipsum dolor sit amet " * 3 + "\r\n") * max(0, (size - len(head)) // 83)
    return (head + filler).encode()


async def _expect(reader: asyncio.StreamReader, code: int) -> None:
    """Read one (possibly multi-line) reply and check its code."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            break
    if int(line[:3]) != code:
        raise RuntimeError(f"expected {code}, got {line!r}")


async def _client(port: int, run: str, client: int, count: int, size: int,
                  start: asyncio.Event, latencies: list[float]) -> int:
    """One connection sending `count` messages in sequence; returns the number of failures."""
    messages = [make_message(run, client, n, size) for n in range(count)]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    try:
        await _expect(reader, 220)
        writer.write(b"EHLO bench.example.org\r\n")
        await _expect(reader, 250)
        await start.wait()
        for message in messages:
            writer.write(f"MAIL FROM:<reporter{client}@example.org>\r\n".encode())
            await _expect(reader, 250)
            writer.write(b"RCPT TO:<stopit@example.edu>\r\n")
            await _expect(reader, 250)
            began = time.perf_counter()
            writer.write(b"DATA\r\n")
            await _expect(reader, 354)
            # The messages have no lines starting with "." so no dot-stuffing is needed.
            writer.write(message + b".\r\n")
            try:
                await _expect(reader, 250)
            except RuntimeError:
                errors += 1
            latencies.append(time.perf_counter() - began)
        writer.write(b"QUIT\r\n")
        await _expect(reader, 221)
    finally:
        writer.close()
    return errors


async def _drive(port: int, run: str, clients: int, per_client: int, size: int) -> dict[str, float]:
    start = asyncio.Event()
    latencies: list[float] = []
    tasks = [asyncio.create_task(_client(port, run, c, per_client, size, start, latencies))
             for c in range(clients)]
    await asyncio.sleep(0.2)  # every client connected and greeted
    began = time.perf_counter()
    start.set()
    errors = sum(await asyncio.gather(*tasks))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rate": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": errors,
    }


def drive(port: int, run: str, clients: int, per_client: int, size: int) -> dict[str, float]:
    """Run `clients` concurrent asyncio SMTP clients (in the calling process); the figures."""
    return asyncio.run(_drive(port, run, clients, per_client, size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages-per-run", type=int, default=1600)
    parser.add_argument("--size", type=int, default=4000, help="approximate message size in bytes")
    parser.add_argument("--concurrency", default="1,8,32")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    tune_interpreter()  # as `stopit serve` does; it applies to both servers in this process

    with tempfile.TemporaryDirectory(prefix="stopit-bench-") as tmp:
        config = init_installation(tmp, "Bench University", "stopit@example.edu")
        app = open_app(config)
        app.settings.server.max_connections_per_peer = 1000
        app.settings.server.max_messages_per_peer_per_minute = 10**9
        ours = MailServer(app, run_worker=False, host="127.0.0.1", port=0)
        ours.start()
        bare_handler = CountingHandler()
        bare_port = free_port()
        bare = Controller(bare_handler, hostname="127.0.0.1", port=bare_port)
        bare.start()
        rows = []
        try:
            # The clients live in another process so they do not share our GIL.
            with concurrent.futures.ProcessPoolExecutor(1) as clients:
                for level in levels:
                    per_client = max(20, args.messages_per_run // level)
                    figures = {}
                    for name, port in (("bare", bare_port), ("ours", ours.port)):
                        run = f"{name}{level}-{time.time_ns()}"
                        figures[name] = clients.submit(drive, port, run, level, per_client, args.size).result()
                    rows.append((level, figures))
        finally:
            ours.stop()
            bare.stop()
            app.close()

    print(f"{'clients':>7} | {'ours msg/s':>10} {'p50 ms':>7} {'p99 ms':>7} | "
          f"{'bare msg/s':>10} {'p50 ms':>7} {'p99 ms':>7} | {'share':>6} | errors")
    for level, fig in rows:
        o, b = fig["ours"], fig["bare"]
        print(f"{level:>7} | {o['rate']:>10.0f} {o['p50_ms']:>7.2f} {o['p99_ms']:>7.2f} | "
              f"{b['rate']:>10.0f} {b['p50_ms']:>7.2f} {b['p99_ms']:>7.2f} | "
              f"{o['rate'] / b['rate']:>6.0%} | {int(o['errors'] + b['errors'])}")


if __name__ == "__main__":
    main()
