"""The model's work per report is bounded: a long report is read in part and raised to urgent.

The model's CPU grows with the text it reads (about a millisecond per token on a busy core). Before
the bound, a 200,000-character report in Chinese with no full stop was one sentence of 184,000
tokens (minutes of CPU, past the worker's time budget, so the report was abandoned and, after its
attempts, quarantined), and an English one of 60 long sentences cost about ten seconds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from stopit_mail.cases.detect.bank import Example, make_bank
from stopit_mail.cases.detect.detector import Detector, with_neighbours
from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder
from stopit_mail.cases.detect.sentences import MAX_CHARS, MAX_WORDS, MODEL_BUDGET_BYTES, split_sentences
from stopit_mail.cases.triage import compile_rules, load_rules

RULES = compile_rules(load_rules())
BANK = make_bank([
    Example("emergency", "self-harm", "i swallowed the whole bottle of grandmas heart pills", "en"),
    Example("negative", "other", "the cafeteria pizza on friday was cold again", "en"),
    Example("negative", "bullying", "a girl in homeroom keeps mocking my lisp every morning", "en"),
])


class MeasuringStandIn(StandInEmbedder):
    """The stand-in, remembering every text it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return super().embed(texts)


def measured() -> tuple[Detector, MeasuringStandIn]:
    embedder = MeasuringStandIn()
    return Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=BANK), embedder


def embedded_bytes(embedder: MeasuringStandIn) -> int:
    return sum(len(t.encode()) for t in embedder.texts)


def test_a_long_unpunctuated_chinese_report_is_cut_into_pieces_the_model_can_read() -> None:
    rng = random.Random(1)  # 200,000 characters with no full stop, no two pieces alike
    text = "".join(rng.choice("我们学校的老师同学今天在食堂里说了很多话他们都笑我") for _ in range(200_000))
    pieces = split_sentences(text)
    assert pieces and all(len(p.text) <= MAX_CHARS for p in pieces)
    detector, embedder = measured()
    decision = detector.assess(text, RULES)
    assert embedder.texts, "the model still reads the start of the report"
    assert embedded_bytes(embedder) <= MODEL_BUDGET_BYTES
    assert max(len(t) for t in embedder.texts) <= 2 * MAX_CHARS + 1  # a sentence, or two joined
    assert decision.urgency in ("urgent", "possible-emergency", "emergency")
    assert any("read only the first" in note for note in decision.notes)


def test_a_long_english_report_is_read_within_the_budget_and_raised_to_urgent() -> None:
    sentence = "after school the group chat posted another photo of me and everyone laughed again tonight. "
    detector, embedder = measured()
    decision = detector.assess("".join(sentence.replace("tonight", f"on day {i}") for i in range(200)), RULES)
    assert embedded_bytes(embedder) <= MODEL_BUDGET_BYTES
    assert decision.urgency != "routine"
    assert any("read only the first" in note for note in decision.notes)
    assert decision.languages == ["en"]


def test_an_ordinary_report_is_read_whole_with_every_neighbouring_pair() -> None:
    text = ("A senior said he is bringing something friday. Everyone in the cafeteria better not be there. "
            "I told my mom and she said to write to you.")
    detector, embedder = measured()
    decision = detector.assess(text, RULES, subject="something friday")
    sentences = ["something friday", "A senior said he is bringing something friday.",
                 "Everyone in the cafeteria better not be there.", "I told my mom and she said to write to you."]
    pairs = [f"{sentences[1]} {sentences[2]}", f"{sentences[2]} {sentences[3]}"]
    assert sorted(embedder.texts) == sorted(sentences + pairs)
    assert not any("read only the first" in note for note in decision.notes)


def test_pairs_take_only_what_the_sentences_leave_of_the_budget() -> None:
    sentences = split_sentences("one two three. four five six. seven eight nine.")
    units, languages = with_neighbours(sentences, ["en"] * 3, budget=sum(len(s.text) for s in sentences) + 30)
    assert [u.text for u in units] == ["one two three.", "four five six.", "seven eight nine.",
                                       "one two three. four five six."]
    assert languages == ["en"] * 4
    assert len(with_neighbours(sentences, ["en"] * 3)[0]) == 5  # no budget: every pair


def test_words_and_characters_both_bound_a_piece() -> None:
    assert [len(p.text.split()) for p in split_sentences("word " * 95)] == [MAX_WORDS, MAX_WORDS, 15]
    long_words = split_sentences(" ".join(["Schulhofsicherheitsbeauftragter"] * 30))
    assert all(len(p.text) <= MAX_CHARS for p in long_words)
    assert " ".join(p.text for p in long_words) == " ".join(["Schulhofsicherheitsbeauftragter"] * 30)
