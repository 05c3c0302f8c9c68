"""Handlers register here by name; a pipeline is a list of those names.

Keeping the flow as data (Mailman's idea) lets configuration or a test run a different list
without code changes, and a duplicate or unknown name is caught at start-up, not mid-message.
"""

from __future__ import annotations

from stopit_mail.processing.context import Handler

_HANDLERS: dict[str, Handler] = {}


class PipelineError(Exception):
    """A pipeline names a handler that does not exist, or two handlers share a name."""


def register(cls: type) -> type:
    """Class decorator: instantiate and register a handler under its `name`."""
    handler = cls()
    if handler.name in _HANDLERS:
        raise PipelineError(f"handler name {handler.name!r} registered twice")
    _HANDLERS[handler.name] = handler
    return cls


def resolve(names: list[str] | tuple[str, ...]) -> list[Handler]:
    """The handlers of a pipeline, in order; unknown names are an error."""
    _load_builtin()
    missing = [n for n in names if n not in _HANDLERS]
    if missing:
        raise PipelineError(f"unknown handler(s): {', '.join(missing)}; known: {', '.join(sorted(_HANDLERS))}")
    return [_HANDLERS[n] for n in names]


def _load_builtin() -> None:
    # Importing the package registers the built-in handlers exactly once.
    import stopit_mail.processing.handlers  # noqa: F401


