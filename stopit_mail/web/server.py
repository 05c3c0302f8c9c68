"""Run the web door with uvicorn, in a thread (beside the mail listener) or on its own.

uvicorn's access log is off and its own logging configuration is not installed: nothing
about a request (address, user agent, path with a code in it) reaches a log. Behind a
reverse proxy listed in `web.trusted_proxies`, uvicorn takes the client address (used only
for in-memory rate limits) and the scheme from X-Forwarded-For/-Proto.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import uvicorn

from stopit_mail.app import App
from stopit_mail.config import split_host_port
from stopit_mail.web.app import make_web_app
from stopit_mail.web.receipts import ReceiptBook

log = logging.getLogger(__name__)


def uvicorn_config(app: App, host: str, port: int, on_stored: Callable[[], None] | None = None,
                   book: ReceiptBook | None = None) -> uvicorn.Config:
    """The uvicorn configuration: no access log, no logging setup, proxy headers from trusted proxies."""
    web = app.settings.web
    return uvicorn.Config(
        make_web_app(app, on_stored, book), host=host, port=port, access_log=False, log_config=None,
        proxy_headers=True, forwarded_allow_ips=list(web.trusted_proxies), server_header=False,
        lifespan="off", timeout_keep_alive=5, limit_concurrency=200,
    )


def quiet_uvicorn() -> None:
    """Keep uvicorn at INFO or above: its TRACE/DEBUG lines name each client's address and port."""
    logger = logging.getLogger("uvicorn")
    if logger.getEffectiveLevel() < logging.INFO:
        logger.setLevel(logging.INFO)


class WebServer:
    """uvicorn in a background thread: `start()` returns once it listens, `stop()` once it stopped."""

    def __init__(self, app: App, on_stored: Callable[[], None] | None = None, host: str | None = None,
                 port: int | None = None, book: ReceiptBook | None = None) -> None:
        quiet_uvicorn()
        default_host, default_port = split_host_port(app.settings.web.listen, 8080)
        self.host = host or default_host
        config = uvicorn_config(app, self.host, default_port if port is None else port, on_stored, book)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="stopit-web", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful when 0 asked for any free one)."""
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.server.config.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        """Start serving; raises OSError when the address cannot be bound."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise OSError(f"the web door could not listen on {self.host}:{self.server.config.port}")
            if time.monotonic() > deadline:
                raise OSError("the web door did not start in time")
            time.sleep(0.01)
        log.info("web door listening on %s", self.url)

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
