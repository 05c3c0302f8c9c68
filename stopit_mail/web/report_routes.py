"""The front page, an organisation's report page, and the receipt that follows a report.

GET pages carry fresh single-use form tokens. A report is validated (text required, known
category, an address only when the reporter chose to be contacted), its files sniffed and
stripped, then stored (`intake.submit_report`) before the receipt code is shown, once. The
reporter must tick "I have saved it" to leave the receipt page; they may have the code mailed
to an address they type, sent at once and never written to our database.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from stopit_mail.cases.acknowledgement import localised
from stopit_mail.cases.notices import template_dirs
from stopit_mail.cases.triage import CATEGORIES
from stopit_mail.config import Organisation
from stopit_mail.config.checks import is_address
from stopit_mail.errors import StopitError
from stopit_mail.outbound.compose import Draft, compose, new_message_id
from stopit_mail.outbound.delivery import DeliveryError, transport_for
from stopit_mail.outbound.render import make_environment, render
from stopit_mail.web.files import CleanFile, FileRejected, inspect_file
from stopit_mail.web.intake import ReportForm, submit_report
from stopit_mail.web.pages import PageContext, page_context, render_page
from stopit_mail.web.receipts import group, normalise
from stopit_mail.web.state import Refused, WebState, client_of, posted_form
from stopit_mail.web.uploads import ParsedForm

MAX_SHORT_FIELD = 200
_TEXT_FIELDS = ("text", "category", "where", "when", "contact", "identity")


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def _start(request: Request) -> tuple[WebState, PageContext, Organisation | None]:
    """The shared state, the page context and the organisation named by the path's key."""
    state = _state(request)
    return state, page_context(state.app.settings, request), state.organisation_by_key(request.path_params["key"])


def _unknown(ctx: PageContext, request: Request) -> Response:
    return render_page(ctx, request, "error.html.j2", status=404, error="error_unknown_access_code")


async def index(request: Request) -> Response:
    state = _state(request)
    ctx = page_context(state.app.settings, request)
    listed = [org for org in state.app.settings.organisations if org.web_listed]
    return render_page(ctx, request, "index.html.j2", listed=listed, error="")


async def open_by_code(request: Request) -> Response:
    """GET /r?code=...: the access-code box on the front page."""
    state = _state(request)
    key = request.query_params.get("code", "").strip()
    if state.organisation_by_key(key) is None:
        ctx = page_context(state.app.settings, request)
        listed = [org for org in state.app.settings.organisations if org.web_listed]
        return render_page(ctx, request, "index.html.j2", status=404, listed=listed, error="error_unknown_access_code")
    return RedirectResponse(f"/r/{key}", status_code=303)


def _form_page(ctx: PageContext, request: Request, state: WebState, org: Organisation, status: int = 200,
               error: str = "", error_file: str = "", values: dict[str, str] | None = None) -> Response:
    web = state.app.settings.web
    return render_page(ctx, request, "report.html.j2", status=status, organisation=org,
                       csrf=state.signer.form_token("report"), categories=CATEGORIES, error=error,
                       error_file=error_file, values=values or {}, max_files=web.max_files,
                       max_file_mb=web.max_file_bytes // (1024 * 1024) or 1,
                       max_report_mb=web.max_report_bytes // (1024 * 1024) or 1, max_text_chars=web.max_text_chars)


async def report_form(request: Request) -> Response:
    state, ctx, org = _start(request)
    if org is None:
        return _unknown(ctx, request)
    return _form_page(ctx, request, state, org)


def _validate(form: ParsedForm, max_text: int) -> tuple[str, dict[str, str]]:
    """The first problem's message key ('' when none) and the cleaned text fields."""
    fields = form.fields
    values = {name: fields.get(name, "").strip() for name in _TEXT_FIELDS}
    if not values["text"]:
        return "error_text_missing", values
    if len(values["text"]) > max_text:
        return "error_text_too_long", values
    if values["category"] and values["category"] not in CATEGORIES:
        return "error_bad_category", values
    if len(values["where"]) > MAX_SHORT_FIELD or len(values["when"]) > MAX_SHORT_FIELD:
        return "error_short_field_too_long", values
    if values["identity"] == "contact":
        if not is_address(values["contact"]):
            return "error_bad_address", values
    elif values["identity"] != "anonymous":
        return "error_identity_missing", values
    return "", values


def check_files(form: ParsedForm, allowed: list[str]) -> list[CleanFile]:
    """Sniff and clean every uploaded file (in a worker thread: Pillow is CPU work)."""
    return [inspect_file(f.path, f.filename, allowed, i) for i, f in enumerate(form.files, 1)]


async def report_submit(request: Request) -> Response:
    state, ctx, org = _start(request)
    settings = state.app.settings
    if org is None:
        return _unknown(ctx, request)
    if not state.counters.allow("report", client_of(request), settings.web.reports_per_client_per_hour):
        return _form_page(ctx, request, state, org, status=429, error="error_rate_limited")
    values: dict[str, str] = {}
    try:
        async with posted_form(state, request, "report") as (form, _folder):
            problem, values = _validate(form, settings.web.max_text_chars)
            if problem:
                return _form_page(ctx, request, state, org, status=400, error=problem, values=values)
            files = await run_in_threadpool(check_files, form, settings.web.allowed_types)
            report = ReportForm(text=values["text"], category=values["category"], where=values["where"],
                                when=values["when"], language=ctx.lang, files=files,
                                contact=values["contact"] if values["identity"] == "contact" else "")
            code = await run_in_threadpool(submit_report, state.app, state.book, org, report, state.on_stored)
    except Refused as exc:
        # The text typed before a file went over a limit is shown again for another try.
        kept = values or {k: v.strip() for k, v in exc.fields.items() if k in _TEXT_FIELDS}
        return _form_page(ctx, request, state, org, status=exc.status, error=exc.key, values=kept)
    except FileRejected as exc:
        return _form_page(ctx, request, state, org, status=415, error=exc.key, error_file=exc.filename,
                          values=values)
    except StopitError:
        return _form_page(ctx, request, state, org, status=503, error="error_storage", values=values)
    return _receipt_page(ctx, request, state, org, code)


def _receipt_page(ctx: PageContext, request: Request, state: WebState, org: Organisation, code: str,
                  status: int = 200, error: str = "", sent_to: str = "") -> Response:
    return render_page(ctx, request, "receipt.html.j2", status=status, organisation=org, code=code,
                       csrf=state.signer.form_token("receipt"), error=error, sent_to=sent_to)


def mail_receipt(state: WebState, org: Organisation, code: str, address: str, language: str) -> None:
    """Send the code now, straight to the transport: the outbox would keep a readable copy."""
    settings = state.app.settings
    env = make_environment(template_dirs(settings, org))
    rendered = render(env, localised(env, "reporter/web-receipt.txt.j2", language),
                      organisation=org.name, code=code, public_url=settings.web.public_url,
                      emergency_numbers=org.emergency_numbers)
    draft = Draft(from_address=org.mailboxes[0], from_name=f"{org.name} stopit", to=[address],
                  subject=rendered.subject, body=rendered.body)
    domain = org.mailboxes[0].rpartition("@")[2]
    content = compose(draft, new_message_id(domain))
    transport_for(settings).deliver(secrets.randbelow(10**9), "", [address], content)


async def receipt_done(request: Request) -> Response:
    state, ctx, org = _start(request)
    if org is None:
        return _unknown(ctx, request)
    try:
        async with posted_form(state, request, "receipt") as (form, _folder):
            code = normalise(form.fields.get("code", ""))
            if code is None:
                return render_page(ctx, request, "error.html.j2", status=400, error="error_bad_form")
            shown = group(code)
            address = form.fields.get("email", "").strip()
            sent_to = ""
            if address:
                if not is_address(address):
                    return _receipt_page(ctx, request, state, org, shown, 400, "error_bad_address")
                if not state.counters.allow("receipt-mail", client_of(request),
                                            state.app.settings.web.reports_per_client_per_hour):
                    return _receipt_page(ctx, request, state, org, shown, 429, "error_rate_limited")
                try:
                    await run_in_threadpool(mail_receipt, state, org, shown, address, ctx.lang)
                except (DeliveryError, OSError, StopitError):
                    return _receipt_page(ctx, request, state, org, shown, 503, "error_receipt_not_sent")
                sent_to = address
            if form.fields.get("saved") != "yes":
                return _receipt_page(ctx, request, state, org, shown, 400 if not sent_to else 200,
                                     "error_not_saved" if not sent_to else "", sent_to)
    except Refused as exc:
        # The code is shown only here: an expired form must not lose it.
        kept = normalise(exc.fields.get("code", ""))
        if kept is not None:
            return _receipt_page(ctx, request, state, org, group(kept), exc.status, exc.key)
        return render_page(ctx, request, "error.html.j2", status=exc.status, error=exc.key)
    return render_page(ctx, request, "thanks.html.j2", organisation=org)


def static_dir() -> Path:
    """The stylesheet's folder (served under /static)."""
    return Path(__file__).resolve().parent / "static"
