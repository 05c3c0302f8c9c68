"""Submission throughput of the web door with a 1 MB photo, against a bare handler, in one run.

Usage: python bench/web.py [--requests-per-client N] [--concurrency 1,8,32] [--image-bytes BYTES]

Both servers run in this process on 127.0.0.1 under uvicorn with the same settings: ours (the
real report page: streaming multipart parsing with limits, type sniffing, the photo decoded and
re-encoded without metadata, the message built and committed to SQLite with WAL and
synchronous=FULL, the receipt hashed with argon2id; the worker is NOT running, so this
measures intake only), and a bare Starlette handler that reads the same body and answers 200.
The clients run in a separate process (so they do not compete with the servers for the GIL):
one thread and one connection per client, each fetching the form (for its single-use token)
and then submitting. Latency is the submission's POST alone. Prints reports per second, p50
and p99 latency, and our rate as a share of the bare handler's.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stopit_mail.app import init_installation, open_app  # noqa: E402
from stopit_mail.web.server import WebServer  # noqa: E402

ACCESS_CODE = "bench-school"


def photo(size: int) -> bytes:
    """A JPEG of noise of about `size` bytes (noise does not compress, like a real photo's detail)."""
    side = int((size / 1.6) ** 0.5)
    while True:
        image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        if out.tell() >= size:
            return out.getvalue()
        side = int(side * 1.05) + 1


def client_run(base: str, bare: bool, clients: int, per_client: int, image: bytes) -> tuple[float, list[float], int]:
    """In the client process: `clients` threads each submitting `per_client` reports."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def one_client(index: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as http:
            for number in range(per_client):
                token = "bare"
                if not bare:
                    page = http.get(f"/r/{ACCESS_CODE}")
                    token = re.search(r'name="csrf" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
                fields = {"csrf": token, "text": f"Bench report {index}/{number}: they keep posting my photo.",
                          "identity": "anonymous"}
                start = time.perf_counter()
                response = http.post(f"/r/{ACCESS_CODE}", data=fields,
                                     files=[("files", (f"photo-{index}-{number}.jpg", image, "image/jpeg"))])
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        failures[0] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=one_client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies, failures[0]


def bare_app() -> Starlette:
    """The same stack doing nothing: read the whole body, answer 200."""
    async def receive(request: Request) -> PlainTextResponse:
        await request.body()
        return PlainTextResponse("ok")

    return Starlette(routes=[Route(f"/r/{ACCESS_CODE}", receive, methods=["POST"])])


def start_bare() -> tuple[object, str]:
    import uvicorn

    config = uvicorn.Config(bare_app(), host="127.0.0.1", port=0, access_log=False, log_config=None,
                            server_header=False, lifespan="off", timeout_keep_alive=5, limit_concurrency=200)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-per-client", type=int, default=4)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--image-bytes", type=int, default=1_000_000)
    args = parser.parse_args()
    image = photo(args.image_bytes)
    with tempfile.TemporaryDirectory() as folder:
        config = init_installation(folder, "Bench School", "stopit@example.edu")
        text = config.read_text().replace('web_access_code = ""', f'web_access_code = "{ACCESS_CODE}"')
        config.write_text(text.replace("reports_per_client_per_hour = 10", "reports_per_client_per_hour = 1000000"))
        app = open_app(config)
        ours = WebServer(app, host="127.0.0.1", port=0)
        ours.start()
        bare, bare_url = start_bare()
        print(f"1 report = {len(image):,} byte JPEG photo; {args.requests_per_client} submissions per client")
        print(f"{'clients':>7} {'server':>6} {'reports/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'failed':>6}  share of bare")
        with concurrent.futures.ProcessPoolExecutor(1) as pool:
            for clients in (int(c) for c in args.concurrency.split(",")):
                rates = {}
                for name, url, is_bare in (("bare", bare_url, True), ("ours", ours.url, False)):
                    wall, latencies, failed = pool.submit(client_run, url, is_bare, clients,
                                                          args.requests_per_client, image).result()
                    rates[name] = len(latencies) / wall
                    share = f"{rates['ours'] / rates['bare']:.1%}" if name == "ours" else ""
                    print(f"{clients:>7} {name:>6} {rates[name]:>10.1f} {percentile(latencies, 0.5) * 1000:>8.0f} "
                          f"{percentile(latencies, 0.99) * 1000:>8.0f} {failed:>6}  {share}", flush=True)
        ours.stop()
        bare.should_exit = True  # type: ignore[attr-defined]
        app.close()


if __name__ == "__main__":
    main()
