"""The shipped triage example bank parses, and every language has all three labels."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import stopit_mail

BANK = Path(stopit_mail.__file__).parent / "cases" / "triage_bank"
LABELS = {"emergency", "concern", "negative"}
CATEGORIES = {
    "self-harm", "threats-of-violence", "threat-to-group", "weapons", "sexual-exploitation",
    "sexual-harassment", "harassment", "bullying", "cyberbullying", "discrimination",
    "inappropriate-online-behaviour", "substance-use", "hazing", "misconduct", "other",
}
REQUIRED = {"en", "es", "zh", "vi", "ar", "tl", "ru", "uk", "pt", "fr", "ht", "ko", "so", "hi", "de"}


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(n, line.split("\t")) for n, line in enumerate(lines, 1)
            if line.strip() and not line.startswith("#")]


def test_every_required_language_has_a_file() -> None:
    assert REQUIRED <= {p.stem for p in BANK.glob("*.tsv")}


@pytest.mark.parametrize("path", sorted(BANK.glob("*.tsv")), ids=lambda p: p.stem)
def test_file_parses_with_known_labels_and_no_duplicates(path: Path) -> None:
    seen: dict[str, int] = {}
    labels: Counter[str] = Counter()
    for n, fields in _rows(path):
        assert len(fields) == 3, f"{path.name}:{n} needs label<TAB>category<TAB>sentence"
        label, category, sentence = fields
        assert label in LABELS, f"{path.name}:{n} unknown label {label!r}"
        assert category in CATEGORIES, f"{path.name}:{n} unknown category {category!r}"
        assert sentence.strip() == sentence and sentence, f"{path.name}:{n} empty or padded"
        key = " ".join(sentence.casefold().split())
        assert key not in seen, f"{path.name}:{n} repeats line {seen.get(key)}"
        seen[key] = n
        labels[label] += 1
    assert set(labels) == LABELS, f"{path.name} lacks {LABELS - set(labels)}"
    assert sum(labels.values()) >= 150, f"{path.name} has only {sum(labels.values())} examples"
