"""The rules' and the sentences' shortcuts (issue 8) give what the long way gives."""

from __future__ import annotations

import copy
import functools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopit_mail.cases.detect import language
from stopit_mail.cases.detect.sentences import MAX_CHARS, MAX_WORDS, _pieces
from stopit_mail.cases.first_chars import first_chars
from stopit_mail.cases.textnorm import AnchorIndex
from stopit_mail.cases.triage import CompiledRules, compile_rules, load_rules, triage

WORDS = st.lists(st.text(alphabet="ab日", min_size=1, max_size=300), min_size=1, max_size=90)


@given(WORDS)
def test_pieces_keep_every_word_within_the_limits(words: list[str]) -> None:
    pieces = _pieces(words)
    assert "".join("".join(p.split()) for p in pieces) == "".join(words)
    assert all(len(p) <= MAX_CHARS and len(p.split()) <= MAX_WORDS for p in pieces)
    if len(" ".join(words)) <= MAX_CHARS and len(words) <= MAX_WORDS:
        assert pieces == [" ".join(words)]
    else:
        assert len(pieces) > 1


def test_anchor_index_selects_the_same_patterns_from_its_memory() -> None:
    index = AnchorIndex()
    for key, pattern in enumerate(["kill you", "hurt*", r"re:\b(?:took|swallow\w*) pills", "cut myself"]):
        index.add(pattern, key)
    text = "i took pills and swallowed more pills, he wants to kill you and hurts me"
    first = index.candidates(text)
    assert first == index.candidates(text)  # the second time from what each word selected
    assert 0 in first[0] and 1 in first[0] and 3 not in first[0] and set(first[1]) == {2}
    index.add("more pills", 4)  # a new pattern: what words selected is forgotten
    assert 4 in index.candidates(text)[0]
    # A hostile run of letters still selects what it starts with, but is not remembered.
    long_word = "hurt" + "s" * 5000
    assert 1 in index.candidates(long_word)[0]
    assert long_word not in index._selected and "hurts" in index._selected


def test_first_characters_of_a_regex_or_none_when_not_followed() -> None:
    assert first_chars(re.compile("性骚扰|セクハラ|(?:摸|揩)油?", re.I)) == frozenset("性セ摸揩")
    assert first_chars(re.compile(r"(?<!x)\b[a-c]y+|z{2}")) == frozenset("abcz")
    assert first_chars(re.compile(r"(?:a|b)?c")) == frozenset("abc")
    for source in (r".x", r"\wx", "[^a]x", "a?", "(a)?(?(1)b|c)"):
        assert first_chars(re.compile(source)) is None, source
    # A letter matched case-insensitively also matches its other cases: not followed.
    assert first_chars(re.compile("abuse", re.I)) is None
    assert first_chars(re.compile("(?i:k)ill")) is None


def test_an_unanchored_regex_is_skipped_on_a_text_without_its_first_characters() -> None:
    index = AnchorIndex()
    index.add("re:性骚扰|セクハラ", 0)
    index.add(r"re:.{0,3}!!", 1)  # could start with anything: always scanned
    assert index.candidates("he keeps touching me")[0] == {1}
    assert index.candidates("他对我性骚扰")[0] == {0, 1}


CJK_TEXT = st.text(alphabet="性骚扰摸我她セクハラ痴漢성희롱 abc.kill you", max_size=60)


@functools.cache
def _scanning_every_unanchored_regex() -> CompiledRules:
    rules = CompiledRules(compile_rules(load_rules([])).rules)
    rules._index._always_first.clear()
    return rules


@settings(deadline=None)
@given(CJK_TEXT)
def test_skipping_by_first_characters_finds_what_scanning_finds(text: str) -> None:
    assert compile_rules(load_rules([])).find(text) == _scanning_every_unanchored_regex().find(text)


def test_whole_report_language_only_when_a_sentence_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[str] = []
    real = language._classify
    monkeypatch.setattr(language, "_classify", lambda text: judged.append(text) or real(text))
    monkeypatch.setattr(language, "_remembered", functools.lru_cache(maxsize=8)(language._classify))
    clear = ["This is a long English sentence about the school bus.",
             "Ceci est une longue phrase en français sur le bus scolaire."]
    assert language.sentence_languages(clear) == ["en", "fr"]
    assert judged == clear  # each sentence once, the whole report never
    judged.clear()
    found = language.sentence_languages([*clear, "ok"])  # "ok" is too short: the whole report's
    whole, probability = real(" ".join([*clear, "ok"]))
    assert judged == [" ".join([*clear, "ok"])]  # the sentences from memory, then the whole report
    assert found == ["en", "fr", whole if probability >= 0.5 else language.UNDETERMINED]


def test_a_decision_copy_is_equal_and_independent() -> None:
    rules = compile_rules(load_rules([]))
    decision = triage("i will kill myself tonight, i took pills", rules, subject="help")
    decision.notes.append("a note")
    decision.languages.append("en")
    copied = decision.copy()
    assert copied == decision == copy.deepcopy(decision)
    for name in ("categories", "matches", "resemblances", "languages", "notes"):
        getattr(copied, name).clear()
    copied.urgency = "routine"
    assert decision == copy.deepcopy(decision) and decision.matches and decision.notes == ["a note"]
    assert decision.urgency == "emergency"
