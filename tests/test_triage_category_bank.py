"""Category examples: ordinary reports that name a report's category and never move its urgency.

They ship apart from the triage bank (``triage_categories/<lang>.tsv``) and join only the category
vote (``detect/category_bank``, ``detect/categories``). The stand-in model plays e5 here: sentences
sharing words land close together.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import stopit_mail
from stopit_mail.cases.detect.bank import BankError, Example, make_bank
from stopit_mail.cases.detect.categories import explained_categories, sentence_vote
from stopit_mail.cases.detect.category_bank import (
    ROUTINE_CATEGORIES,
    parse_category_line,
    shipped_category_examples,
)
from stopit_mail.cases.detect.detector import Detector
from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder
from stopit_mail.cases.detect.scoring import Neighbourhood
from stopit_mail.cases.detect.sentences import Sentence
from stopit_mail.cases.triage import compile_rules, load_rules
from stopit_mail.cases.triage_decision import TriageDecision

FOLDER = Path(stopit_mail.__file__).parent / "cases" / "triage_categories"
BANK = Path(stopit_mail.__file__).parent / "cases" / "triage_bank"
REQUIRED = {"en", "es", "zh", "vi", "ar", "tl", "ru", "uk", "pt", "fr", "ht", "ko", "so", "hi", "de"}
RULES = compile_rules(load_rules())

PILLS = Example("emergency", "self-harm", "i swallowed the whole bottle of grandmas heart pills", "en")
CANT_GO_ON = Example("concern", "self-harm", "i can't do this anymore", "en")
PIZZA = Example("negative", "other", "the cafeteria pizza on friday was cold again", "en")
MOCKING = Example("negative", "bullying", "kids at recess laugh at his shoes and push him", "en", "category examples")
LOCKER = Example("negative", "bullying", "someone shoves him into the locker every morning", "en", "category examples")
# A paper's plot (no category example), worded so that no rule names it.
ESSAY = Example("negative", "other", "our class essay was about a lighthouse keeper", "en")


def hood(*nearest: tuple[Example, float]) -> Neighbourhood:
    """A routine sentence (negative vote) whose nearest examples are ``nearest``, most similar first."""
    return Neighbourhood({"emergency": 0.0, "concern": 0.1, "negative": 0.9}, nearest[0][0], nearest[0][1],
                         {}, nearest_few=tuple(nearest))


def test_every_required_language_has_every_routine_category() -> None:
    by_language: dict[str, Counter[str]] = {}
    for example in shipped_category_examples():
        by_language.setdefault(example.language, Counter())[example.category] += 1
    assert REQUIRED <= set(by_language)
    for language, counts in by_language.items():
        assert set(counts) == ROUTINE_CATEGORIES, f"{language}.tsv lacks {ROUTINE_CATEGORIES - set(counts)}"


@pytest.mark.parametrize("path", sorted(FOLDER.glob("*.tsv")), ids=lambda p: p.stem)
def test_a_category_file_has_no_duplicate_and_repeats_no_triage_bank_sentence(path: Path) -> None:
    bank = {" ".join(line.split("\t")[-1].casefold().split()) for bank_file in BANK.glob("*.tsv")
            for line in bank_file.read_text(encoding="utf-8").splitlines() if not line.startswith("#")}
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        example = parse_category_line(line, f"{path.name}:{number}", path.stem)
        if example is None:
            continue
        key = " ".join(example.sentence.casefold().split())
        assert key not in seen and key not in bank, f"{path.name}:{number} repeats a sentence"
        seen.add(key)


def test_a_danger_category_or_a_label_column_is_refused() -> None:
    with pytest.raises(BankError, match="not a routine category"):
        parse_category_line("self-harm\ti took all my pills", "x.tsv:1", "en")
    with pytest.raises(BankError, match="category<TAB>sentence"):
        parse_category_line("negative\tbullying\tthey push him", "x.tsv:2", "en")
    assert parse_category_line("# a comment", "x.tsv:3", "en") is None


def test_a_routine_report_no_rule_names_takes_its_category_from_the_examples_and_says_why() -> None:
    embedder = StandInEmbedder()
    bank = make_bank([PILLS, CANT_GO_ON, PIZZA, ESSAY])
    plain = Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=bank, category_examples=())
    taught = Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=bank,
                      category_examples=(MOCKING, LOCKER))
    text = "kids at recess laugh at my son's shoes and push him around"
    before, after = plain.assess(text, RULES), taught.assess(text, RULES)
    assert before.categories == ["other"]
    assert after.categories == ["bullying"], after.explanation()
    assert after.urgency == before.urgency
    assert f'resembles reviewed example "{MOCKING.sentence}" (category examples' in after.explanation()


def test_the_category_examples_never_move_the_label_vote() -> None:
    embedder = StandInEmbedder()
    bank = make_bank([PILLS, CANT_GO_ON, PIZZA, ESSAY])
    crowded = tuple(Example("negative", "bullying", f"{PILLS.sentence} {i}", "en", "category examples")
                    for i in range(20))
    plain = Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=bank, category_examples=())
    taught = Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=bank, category_examples=crowded)
    text = "i swallowed the whole bottle of my grandmas heart pills"
    before, after = plain.assess(text, RULES), taught.assess(text, RULES)
    assert after.urgency == before.urgency
    assert [(r.example, r.probability) for r in after.resemblances] == \
        [(r.example, r.probability) for r in before.resemblances]
    assert "bullying" not in after.categories


def test_below_the_reviewer_tier_an_emergency_neighbour_no_longer_drowns_the_ordinary_vote() -> None:
    """The sentence's nearest example is a concern (self-harm, which a routine report cannot be
    given), then two bullying examples: the old vote gave bullying a third and named nothing."""
    routine = hood((CANT_GO_ON, 0.92), (MOCKING, 0.91), (LOCKER, 0.91), (PIZZA, 0.905), (ESSAY, 0.905))
    assert sentence_vote(routine)["bullying"] < 0.4
    categories, reasons = explained_categories(TriageDecision(["other"], "routine", []), [], [Sentence("s")],
                                               [routine], "routine")
    assert categories == ["bullying"]
    assert reasons and reasons[0].startswith('category "bullying": sentence "s" resembles reviewed example')


def test_a_sentence_mostly_about_a_danger_keeps_other_and_a_paged_report_ignores_the_examples() -> None:
    overdose = hood((PILLS, 0.93), (CANT_GO_ON, 0.93), (MOCKING, 0.92), (LOCKER, 0.92), (PIZZA, 0.90))
    assert explained_categories(TriageDecision(["other"], "urgent", []), [], [Sentence("s")], [overdose],
                                "urgent")[0] == ["other"]
    near_examples = hood((MOCKING, 0.93), (LOCKER, 0.93), (PIZZA, 0.90), (ESSAY, 0.90))
    assert explained_categories(TriageDecision(["other"], "possible-emergency", []), [], [Sentence("s")],
                                [near_examples], "possible-emergency")[0] == ["other"]
    assert explained_categories(TriageDecision(["other"], "routine", []), [], [Sentence("s")],
                                [near_examples], "routine")[0] == ["bullying"]
