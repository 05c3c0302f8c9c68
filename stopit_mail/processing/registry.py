"""Handlers register here by name; each lives in the module named after it.

`open-case` is `handlers/open_case.py`, so the registry finds a handler by importing the module
of its name, and adding one is one file plus one entry in a pipeline (`pipelines.py`). Keeping
the flow as data (Mailman's idea) lets a test run a different list, and a duplicate or unknown
name is caught at start-up, not mid-message.
"""

from __future__ import annotations

import importlib

from stopit_mail.processing.context import Handler

_HANDLERS: dict[str, Handler] = {}
_PACKAGE = "stopit_mail.processing.handlers"


class PipelineError(Exception):
    """A pipeline names a handler that does not exist, or two handlers share a name."""


def register(cls: type) -> type:
    """Class decorator: instantiate and register a handler under its `name`."""
    handler = cls()
    if handler.name in _HANDLERS:
        raise PipelineError(f"handler name {handler.name!r} registered twice")
    module = cls.__module__.rpartition(".")[2]
    if module != handler.name.replace("-", "_"):
        raise PipelineError(f"handler {handler.name!r} must live in handlers/{handler.name.replace('-', '_')}.py")
    _HANDLERS[handler.name] = handler
    return cls


def _load(name: str) -> None:
    if name in _HANDLERS:
        return
    try:
        importlib.import_module(f"{_PACKAGE}.{name.replace('-', '_')}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{_PACKAGE}.{name.replace('-', '_')}":
            raise


def resolve(names: list[str] | tuple[str, ...]) -> list[Handler]:
    """The handlers of a pipeline, in order; unknown names are an error."""
    for name in names:
        _load(name)
    missing = [n for n in names if n not in _HANDLERS]
    if missing:
        raise PipelineError(f"unknown handler(s): {', '.join(missing)}")
    return [_HANDLERS[n] for n in names]
