"""`doc()`: a dataclass field that carries its one-line documentation."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any


def doc(text: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING) -> Any:
    """A field with its doc attached (read by the validator, `stopit init` and the docs test).

    Without a default or factory the key is required, and the loader reports it when missing.
    """
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})
