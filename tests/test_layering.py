"""The code keeps its one direction of flow: ingest -> extract -> headers -> cases -> outbound.

Services never import the CLI or the server; lower layers never import higher ones. This test
reads imports with `ast`, so a violation fails the build instead of waiting for a review.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "stopit_mail"

# layer -> packages it must never import
FORBIDDEN = {
    "extract": ("headers", "cases", "outbound", "processing", "ingest", "cli", "commands", "server", "web", "api"),
    "headers": ("cases", "outbound", "processing", "ingest", "cli", "commands", "server", "web", "api"),
    "outbound": ("cases", "processing", "ingest", "extract", "headers", "cli", "commands", "server", "web", "api"),
    "cases": ("processing", "ingest", "cli", "commands", "server", "web", "worker_process", "api"),
    "processing": ("cli", "commands", "server", "web", "worker_process", "api"),
    "ingest": ("cli", "commands", "server", "web", "worker_process", "api"),
    "config": ("cases", "outbound", "processing", "ingest", "extract", "headers", "cli", "commands", "server", "web",
               "api"),
    # The staff API sits beside the commands and the web door: it calls services, and is called.
    "api": ("cli", "commands", "server", "web", "worker_process"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.startswith("stopit_mail.")}


def test_layers_only_import_downstream() -> None:
    violations = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for module in imported_modules(path):
                top = module.split(".")[1]
                if top in forbidden:
                    violations.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert violations == []


def test_modules_stay_small() -> None:
    """House style: one idea per module, roughly under 400 lines (450 is the hard stop)."""
    too_long = [f"{p.relative_to(PACKAGE)} ({n} lines)" for p in sorted(PACKAGE.rglob("*.py"))
                if "migrations" not in p.parts and (n := len(p.read_text().splitlines())) > 450]
    assert too_long == []


def test_each_handler_lives_in_the_file_named_after_it_and_every_pipeline_resolves() -> None:
    from stopit_mail.processing.pipelines import PIPELINES
    from stopit_mail.processing.registry import resolve

    handlers = PACKAGE / "processing" / "handlers"
    files = {p.stem for p in handlers.glob("*.py") if p.stem != "__init__"}
    named = {name for pipeline in PIPELINES.values() for name in pipeline}
    assert {name.replace("-", "_") for name in named} == files
    for pipeline in PIPELINES.values():
        for handler in resolve(pipeline):
            assert type(handler).__module__.endswith("handlers." + handler.name.replace("-", "_"))


def test_no_handler_asks_what_kind_of_message_it_has() -> None:
    """The chain decides the kind once; a handler guarding on it means the decision leaked."""
    guards = [p.name for p in (PACKAGE / "processing" / "handlers").glob("*.py")
              if "arrival.kind" in p.read_text() or "MessageKind.REPORT" in p.read_text()]
    assert guards == []
