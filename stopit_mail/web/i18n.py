"""Translations: one TOML file per language under `web/locales/`, chosen per request.

A language is offered when `web.languages` names it and its file exists; adding a language is
adding a file. The reporter's choice (the switch on every page, kept in a `lang` cookie)
wins over the browser's Accept-Language; a key missing from a translation falls back to
English, so a partial translation never shows a blank.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any

FALLBACK = "en"
# The name of each language in itself, for the switch; unknown codes show the code.
NATIVE_NAMES = {"en": "English", "es": "Español", "fr": "Français", "pt": "Português", "de": "Deutsch",
                "vi": "Tiếng Việt", "zh": "中文", "ar": "العربية", "ht": "Kreyòl ayisyen"}


@lru_cache(maxsize=32)
def catalogue(lang: str) -> dict[str, str]:
    """The strings of one language (an empty catalogue for an unknown one)."""
    path = resources.files("stopit_mail") / "web" / "locales" / f"{lang}.toml"
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


class Translator:
    """`_("key", n=3)` for one language, falling back to English, then to the key itself."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._strings = catalogue(lang)
        self._fallback = catalogue(FALLBACK)

    def __call__(self, key: str, **values: Any) -> str:
        text = self._strings.get(key) or self._fallback.get(key) or key
        return text.format(**values) if values else text


def parse_accept_language(header: str) -> list[str]:
    """Primary language codes from an Accept-Language header, best first."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        code = tag.strip().split("-")[0].lower()
        if code and code != "*" and quality > 0:
            ranked.append((-quality, index, code))
    return [code for _q, _i, code in sorted(ranked)]


def choose_language(offered: list[str], chosen: str | None, accept_language: str) -> str:
    """The reporter's explicit choice if offered, else the browser's best offered, else the first."""
    if chosen in offered:
        return str(chosen)
    for code in parse_accept_language(accept_language):
        if code in offered:
            return code
    return offered[0]
