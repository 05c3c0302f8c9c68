"""Render the web door's pages: Jinja2 (autoescaped) with the common context every page needs.

Every page shows the emergency box (the organisation's emergency numbers and the configured
crisis lines: this is not an emergency service), the language switch, and carries the
security headers. Templates live in `stopit_mail/templates/web/`, next to the mail templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from stopit_mail.config import Organisation, Settings
from stopit_mail.web.i18n import NATIVE_NAMES, Translator, choose_language
from stopit_mail.web.security import SECURITY_HEADERS

LANG_COOKIE = "lang"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The HTML template environment (autoescape on, undefined variables are errors)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("stopit_mail", "templates/web"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )


@dataclass
class PageContext:
    """Per-request: the settings, the chosen language and its translator."""

    settings: Settings
    lang: str
    translate: Translator
    set_cookie: bool


def page_context(settings: Settings, request: Request) -> PageContext:
    """Choose the language: ?lang= (remembered in a cookie), the cookie, then Accept-Language."""
    offered = settings.web.languages
    asked = request.query_params.get("lang")
    chosen = asked if asked in offered else request.cookies.get(LANG_COOKIE)
    lang = choose_language(offered, chosen, request.headers.get("accept-language", ""))
    return PageContext(settings, lang, Translator(lang), set_cookie=asked in offered)


def emergency_numbers(settings: Settings, organisation: Organisation | None) -> list[str]:
    """The organisation's numbers, or every organisation's on pages that belong to none."""
    if organisation is not None:
        return organisation.emergency_numbers
    numbers: list[str] = []
    for org in settings.organisations:
        numbers += [n for n in org.emergency_numbers if n not in numbers]
    return numbers


def render_page(ctx: PageContext, request: Request, template: str, status: int = 200,
                organisation: Organisation | None = None, **values: Any) -> HTMLResponse:
    """Render `template` with the common context and the security headers."""
    languages = [(code, NATIVE_NAMES.get(code, code)) for code in ctx.settings.web.languages]
    html = environment().get_template(template).render(
        _=ctx.translate, lang=ctx.lang, languages=languages, path=request.url.path,
        organisation=organisation, emergency_numbers=emergency_numbers(ctx.settings, organisation),
        crisis_lines=ctx.settings.web.crisis_lines, **values)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if ctx.set_cookie:
        response.set_cookie(LANG_COOKIE, ctx.lang, max_age=365 * 86400, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response
