"""Render Jinja2 notices with strict rules: an undefined variable is an error, never blank text.

Templates are plain text (mail bodies), so HTML autoescaping does not apply; instead every
value passed in is made terminal- and mail-safe (control characters neutralised) by the
`clean` filter that the environment applies to every `{{ ... }}` by default. Organisations
may override any template by putting a file of the same name in their own folder, which is
searched first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

from stopit_mail.errors import StopitError
from stopit_mail.textsafe import terminal_safe


class TemplateError(StopitError):
    """A template is missing, malformed, or uses a variable nobody provided."""


@dataclass(frozen=True)
class Rendered:
    """A rendered notice: the subject (first line of the template) and the body."""

    subject: str
    body: str


def _finalize(value: Any) -> Any:
    return terminal_safe(value) if isinstance(value, str) else value


def make_environment(override_dirs: Sequence[Path] = ()) -> jinja2.Environment:
    """An environment searching the organisation folders first, then the built-in templates.

    Environments are cached per folder list, so templates are compiled once per process;
    Jinja's auto_reload still picks up an edited override file.
    """
    return _environment(tuple(str(d) for d in override_dirs))


@lru_cache(maxsize=32)
def _environment(override_dirs: tuple[str, ...]) -> jinja2.Environment:
    import jinja2  # noqa: PLC0415 - only when rendering: reading a case needs no Jinja

    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(list(override_dirs))]
    loaders.append(jinja2.PackageLoader("stopit_mail", "templates"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )


def fixed_text(env: jinja2.Environment, name: str) -> str:
    """The words template `name` itself writes (its literal text, without any `{{ ... }}`): what
    every message rendered from it says, whoever the case is about."""
    import jinja2  # noqa: PLC0415

    try:
        source = env.loader.get_source(env, name)[0] if env.loader is not None else ""
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template {name!r} not found") from exc
    return _literal_text(env, source)


@lru_cache(maxsize=64)
def _literal_text(env: jinja2.Environment, source: str) -> str:
    from jinja2 import nodes  # noqa: PLC0415

    return "\n".join(node.data for node in env.parse(source).find_all(nodes.TemplateData))


def render(env: jinja2.Environment, name: str, **variables: Any) -> Rendered:
    """Render template `name`; its first line is 'Subject: ...', the rest (after a blank line) the body."""
    import jinja2  # noqa: PLC0415

    try:
        text = env.get_template(name).render(**variables)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template {name!r} not found") from exc
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template {name!r}: {exc.message}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {name!r} line {exc.lineno}: {exc.message}") from exc
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject:"):
        raise TemplateError(f"template {name!r} must start with a 'Subject: ...' line and a blank line")
    subject = " ".join(head.removeprefix("Subject:").split())
    return Rendered(subject=subject, body=body.rstrip() + "\n")
