"""The web door as an ASGI application (Starlette): routes, static files, error pages.

Why Starlette + uvicorn: the request body is an async stream, so uploads are parsed as they
arrive and stopped at a limit (python-multipart underneath), while blocking work (argon2,
Pillow, the database) runs in the thread pool; uvicorn is the well-kept production server for
it, with proxy-header handling and an access log that can be switched off. Flask + waitress
would buffer the body before the view runs.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from stopit_mail.app import App
from stopit_mail.web import checkback_routes, report_routes
from stopit_mail.web.pages import page_context, render_page
from stopit_mail.web.receipts import ReceiptBook
from stopit_mail.web.security import SECURITY_HEADERS
from stopit_mail.web.state import WebState


async def _http_error(request: Request, exc: Exception) -> Response:
    state: WebState = request.app.state.web
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    key = {404: "error_not_found", 405: "error_bad_form"}.get(status, "error_storage")
    return render_page(page_context(state.app.settings, request), request, "error.html.j2", status=status, error=key)


class _StaticWithHeaders(StaticFiles):
    async def get_response(self, path: str, scope):  # type: ignore[no-untyped-def]
        response = await super().get_response(path, scope)
        response.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"})
        return response


def make_web_app(app: App, on_stored: Callable[[], None] | None = None, book: ReceiptBook | None = None) -> Starlette:
    """The ASGI app of one installation's web door."""
    routes = [
        Route("/", report_routes.index),
        Route("/r", report_routes.open_by_code),
        Route("/r/{key}", report_routes.report_form, methods=["GET"]),
        Route("/r/{key}", report_routes.report_submit, methods=["POST"]),
        Route("/r/{key}/receipt", report_routes.receipt_done, methods=["POST"]),
        Route("/check", checkback_routes.check_form, methods=["GET"]),
        Route("/check", checkback_routes.check_submit, methods=["POST"]),
        Route("/check/answer", checkback_routes.answer_submit, methods=["POST"]),
        Mount("/static", _StaticWithHeaders(directory=str(report_routes.static_dir())), name="static"),
    ]
    web = Starlette(routes=routes, exception_handlers={HTTPException: _http_error, 500: _http_error})
    web.state.web = WebState.create(app, on_stored, book)
    return web
