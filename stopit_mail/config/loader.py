"""Load stopit.toml and validate it, collecting every mistake into one ConfigError.

The validator walks the TOML tree against the schema dataclasses: unknown keys, wrong types and
missing required keys are reported with the key, what was found and what was expected; value
checks (formats, ranges, uniqueness) live in `checks.py`.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
import unicodedata
from pathlib import Path
from typing import Any

from stopit_mail.config.checks import check_values
from stopit_mail.config.schema import CONFIG_FILENAME, Settings
from stopit_mail.errors import ConfigError


def _type_name(expected: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    origin = typing.get_origin(expected)
    if origin is list:
        (item,) = typing.get_args(expected)
        return f"a list of {_type_name(item).removeprefix('a ').removeprefix('an ')}s"
    if dataclasses.is_dataclass(expected):
        return "a table"
    return names.get(expected, str(expected))


def _hidden_characters(text: str) -> str | None:
    """Why a string value is unsafe to use, or None.

    A value with a trailing newline once passed every check and then made every emergency
    fail in processing with no page: a configuration value ends up in headers, addresses and
    file names, where a control character, a line break or invisible padding is never meant.
    """
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Zl", "Zp"):
            return f"contains control character U+{ord(char):04X} at position {index}"
    if text != text.strip():
        return "starts or ends with whitespace"
    return None


def _found(value: Any) -> str:
    kind = type(value).__name__
    text = repr(value)
    return f"{text[:60]} ({kind})"


class _Validator:
    """Builds dataclass instances from TOML tables, collecting problems instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def build(self, cls: type, table: dict[str, Any], prefix: str) -> Any:
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
        for key in table:
            if key not in fields:
                allowed = ", ".join(sorted(fields))
                self.problems.append(f"{prefix}{key}: unknown key (expected one of: {allowed})")
        values: dict[str, Any] = {}
        for name, fld in fields.items():
            key = f"{prefix}{name}"
            if name not in table:
                if fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                    self.problems.append(f"{key}: missing (expected {_type_name(hints[name])})")
                continue
            values[name] = self.convert(table[name], hints[name], key)
        try:
            return cls(**values)
        except TypeError:
            return None

    def convert(self, value: Any, expected: Any, key: str) -> Any:
        if isinstance(expected, types.UnionType):
            expected = next(a for a in typing.get_args(expected) if a is not type(None))
        origin = typing.get_origin(expected)
        if origin is list:
            (item_type,) = typing.get_args(expected)
            if not isinstance(value, list):
                self.problems.append(f"{key}: found {_found(value)}, expected {_type_name(expected)}")
                return []
            return [self.convert(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
        if origin is dict:
            if not isinstance(value, dict):
                self.problems.append(f"{key}: found {_found(value)}, expected a table")
                return {}
            return value
        if dataclasses.is_dataclass(expected):
            if not isinstance(value, dict):
                self.problems.append(f"{key}: found {_found(value)}, expected a table")
                return expected()  # type: ignore[operator]
            return self.build(expected, value, f"{key}.")  # type: ignore[arg-type]
        ok = (
            isinstance(value, bool)
            if expected is bool
            else isinstance(value, (int, float)) and not isinstance(value, bool)
            if expected is float
            else isinstance(value, expected) and not isinstance(value, bool)
        )
        if not ok:
            self.problems.append(f"{key}: found {_found(value)}, expected {_type_name(expected)}")
        elif expected is str and (why := _hidden_characters(value)) is not None:
            self.problems.append(f"{key}: found {_found(value)}, which {why} (expected plain text)")
        return value


def settings_from_dict(table: dict[str, Any], base_dir: Path, path: str | None = None) -> Settings:
    """Validate a parsed TOML document; raise ConfigError listing every mistake."""
    validator = _Validator()
    settings = validator.build(Settings, table, "")
    problems = validator.problems
    if settings is not None and not problems:
        check_values(settings, problems)
    if problems or settings is None:
        raise ConfigError(problems or ["could not be read"], path)
    settings.base_dir = base_dir
    return settings


def load_settings(path: str | Path) -> Settings:
    """Read and validate a stopit.toml file (or the stopit.toml inside a folder)."""
    config_path = Path(path)
    if config_path.is_dir():
        config_path = config_path / CONFIG_FILENAME
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(["file not found (run 'stopit init' to create one)"], str(config_path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read: {exc}"], str(config_path)) from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(config_path)) from None
    return settings_from_dict(table, config_path.resolve().parent, str(config_path))


def iter_documented_keys(cls: type = Settings, prefix: str = "") -> list[tuple[str, str]]:
    """Every configuration key with its doc, for the documentation test and `stopit init`."""
    keys: list[tuple[str, str]] = []
    hints = typing.get_type_hints(cls)
    for fld in dataclasses.fields(cls):
        if fld.metadata.get("internal"):
            continue
        hint = hints[fld.name]
        inner = typing.get_args(hint)[0] if typing.get_origin(hint) is list else hint
        keys.append((f"{prefix}{fld.name}", fld.metadata.get("doc", "")))
        if dataclasses.is_dataclass(inner):
            keys.extend(iter_documented_keys(inner, f"{prefix}{fld.name}."))  # type: ignore[arg-type]
    return keys
