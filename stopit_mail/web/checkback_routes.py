"""Check-back: open a report with its receipt code, read staff messages, answer, add files.

A code is tried only within the rate limits (per client, and per code so one receipt cannot
be guessed at from many clients); a wrong code, an unknown code and a malformed code get the
same page, status and work (`ReceiptBook.open`). A correct code yields a signed session token
for the receipt, carried in the page's forms, so answering does not re-send the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from stopit_mail.cases.webdoor import ThreadEntry, current_case, report_for_raw, reporter_thread
from stopit_mail.errors import StopitError
from stopit_mail.models import CaseStatus, WebPost, WebReceipt
from stopit_mail.web.files import FileRejected
from stopit_mail.web.intake import NotFiledYet, submit_answer
from stopit_mail.web.pages import PageContext, page_context, render_page
from stopit_mail.web.receipts import lookup_key, normalise
from stopit_mail.web.report_routes import check_files
from stopit_mail.web.state import Refused, WebState, client_of, posted_form

# Case statuses in words a reporter understands (keys into the translation files).
STATUS_WORDS = {
    CaseStatus.NEW: "status_new", CaseStatus.TRIAGED: "status_in_progress",
    CaseStatus.NOTICE_SENT: "status_in_progress", CaseStatus.REFERRED: "status_referred",
    CaseStatus.WAITING: "status_waiting", CaseStatus.RESOLVED: "status_resolved", CaseStatus.CLOSED: "status_closed",
}


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


@dataclass
class ThreadView:
    """What the check-back page shows for one receipt."""

    organisation: str
    status_key: str
    entries: list[ThreadEntry]
    filed: bool


def load_thread(state: WebState, receipt_id: int) -> ThreadView | None:
    """The receipt's report status and thread (None if the receipt is gone)."""
    with state.app.factory() as session:
        receipt = session.get(WebReceipt, receipt_id)
        if receipt is None:
            return None
        report = report_for_raw(session, receipt.raw_message_id)
        case = current_case(session, report.case_id) if report is not None else None
        posts = list(session.scalars(select(WebPost.raw_message_id).where(WebPost.receipt_id == receipt.id)))
        entries = reporter_thread(session, state.app.settings, [receipt.raw_message_id, *posts], report)
        status = STATUS_WORDS.get(case.status, "status_in_progress") if case is not None else "status_received"
        return ThreadView(receipt.organisation, status, entries, case is not None)


def _check_page(ctx: PageContext, request: Request, state: WebState, status: int = 200, error: str = "") -> Response:
    return render_page(ctx, request, "check.html.j2", status=status, csrf=state.signer.form_token("check"), error=error)


def _thread_page(ctx: PageContext, request: Request, state: WebState, receipt_id: int, status: int = 200,
                 error: str = "", error_file: str = "", notice: str = "", text: str = "") -> Response:
    view = load_thread(state, receipt_id)
    if view is None:
        return _check_page(ctx, request, state, 400, "error_wrong_code")
    org = state.app.settings.organisation(view.organisation)
    web = state.app.settings.web
    return render_page(ctx, request, "thread.html.j2", status=status, organisation=org, view=view,
                       session=state.signer.session_token(receipt_id), csrf=state.signer.form_token("answer"),
                       error=error, error_file=error_file, notice=notice, text=text, max_files=web.max_files,
                       max_file_mb=web.max_file_bytes // (1024 * 1024) or 1, max_text_chars=web.max_text_chars)


async def check_form(request: Request) -> Response:
    state = _state(request)
    return _check_page(page_context(state.app.settings, request), request, state)


def _open(state: WebState, code: str) -> int | None:
    with state.app.factory() as session:
        receipt = state.book.open(session, code)
        return receipt.id if receipt is not None else None


async def check_submit(request: Request) -> Response:
    state = _state(request)
    web = state.app.settings.web
    ctx = page_context(state.app.settings, request)
    try:
        async with posted_form(state, request, "check") as (form, _folder):
            typed = form.fields.get("code", "")
    except Refused as exc:
        return _check_page(ctx, request, state, exc.status, exc.key)
    code_key = lookup_key(normalise(typed) or "")
    if not state.counters.allow("code-client", client_of(request), web.code_attempts_per_client_per_hour) \
            or state.counters.exceeded("code", code_key, web.code_attempts_per_code_per_hour):
        return _check_page(ctx, request, state, 429, "error_rate_limited")
    receipt_id = await run_in_threadpool(_open, state, typed)
    if receipt_id is None:
        state.counters.allow("code", code_key, web.code_attempts_per_code_per_hour)
        return _check_page(ctx, request, state, 400, "error_wrong_code")
    return _thread_page(ctx, request, state, receipt_id)


async def answer_submit(request: Request) -> Response:
    state = _state(request)
    settings = state.app.settings
    ctx = page_context(settings, request)
    text = ""
    try:
        async with posted_form(state, request, "answer") as (form, _folder):
            receipt_id = state.signer.session_receipt(form.fields.get("session", ""))
            if receipt_id is None:
                return _check_page(ctx, request, state, 400, "error_session_expired")
            if not state.counters.allow("answer", str(receipt_id), settings.web.reports_per_client_per_hour):
                return _thread_page(ctx, request, state, receipt_id, 429, "error_rate_limited")
            text = form.fields.get("text", "").strip()
            if not text and not form.files:
                return _thread_page(ctx, request, state, receipt_id, 400, "error_answer_missing")
            if len(text) > settings.web.max_text_chars:
                return _thread_page(ctx, request, state, receipt_id, 400, "error_text_too_long", text=text)
            try:
                files = await run_in_threadpool(check_files, form, settings.web.allowed_types)
                await run_in_threadpool(submit_answer, state.app, receipt_id, text, files, ctx.lang, state.on_stored)
            except FileRejected as exc:
                return _thread_page(ctx, request, state, receipt_id, 415, exc.key, exc.filename, text=text)
            except NotFiledYet:
                return _thread_page(ctx, request, state, receipt_id, 409, "error_not_filed_yet", text=text)
            except StopitError:
                return _thread_page(ctx, request, state, receipt_id, 503, "error_storage", text=text)
    except Refused as exc:
        # A file too large: stay on the thread when the session (sent before the files) was read.
        receipt_id = state.signer.session_receipt(exc.fields.get("session", ""))
        if receipt_id is not None:
            return _thread_page(ctx, request, state, receipt_id, exc.status, exc.key)
        return _check_page(ctx, request, state, exc.status, exc.key)
    return _thread_page(ctx, request, state, receipt_id, notice="notice_answer_sent")
