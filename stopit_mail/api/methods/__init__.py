"""The API's methods, one module per area; importing a module registers its methods.

The registry imports only the modules a request needs (`registry._HOMES`); `load_all` imports
every one (for `stopit api methods`, the docs test, and an unknown method's answer).
"""

from __future__ import annotations

import importlib

MODULES = ("cases", "casework", "mail", "views", "extra", "export")


def load_all() -> None:
    """Register every method."""
    for name in MODULES:
        importlib.import_module(f"stopit_mail.api.methods.{name}")
