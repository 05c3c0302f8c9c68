"""Triage: emergencies are never missed, idioms do not page anyone, every decision explains itself.

The labelled set (tests/fixtures/triage/labelled_reports.jsonl) is what the default rules were
tuned on, including 42 reports marked "holdout-v1" that were a holdout for the first version of
the rules (recall 5/15 there) and were then used for tuning. The holdout set was written after
the rules were frozen again and is only measured (4/14 then; 11/14 after the high-recall tier,
which was not tuned on it).

The blind set (blind_reports.jsonl, "blind-v1", 138 reports) was written before its author read
the rules or the other sets, and measured on the old rules: recall 32/57, false alarms 4/81.
Its first 60% by file order was then used for tuning the high-recall tier; the last 40% was held
out and measured once, at the end. The same person wrote the set and the rules, so the held-out
figures are an optimistic estimate; the next honest number needs reports from someone else.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopit_mail.cases.textnorm import (
    compile_alternation,
    compile_pattern,
    is_regex,
    normalise,
    regex_anchors,
)
from stopit_mail.cases.triage import (
    CATEGORIES,
    CompiledRules,
    TriageRulesError,
    compile_rules,
    load_rules,
    triage,
)

FIXTURES = Path(__file__).parent / "fixtures" / "triage"


@pytest.fixture(scope="module")
def rules() -> CompiledRules:
    return compile_rules(load_rules())


def _read(name: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@dataclass
class Scores:
    total: int
    emergencies: int
    missed: list[str]
    false_alarms: list[str]
    category_hits: int
    urgency_exact: int

    @property
    def recall(self) -> float:
        return 1 - len(self.missed) / self.emergencies

    @property
    def false_alarm_rate(self) -> float:
        return len(self.false_alarms) / (self.total - self.emergencies)

    def summary(self, label: str) -> str:
        return (f"{label}: {self.total} reports, emergency recall {self.recall:.1%} "
                f"({self.emergencies - len(self.missed)}/{self.emergencies}), false-alarm rate "
                f"{self.false_alarm_rate:.1%} ({len(self.false_alarms)}/"
                f"{self.total - self.emergencies}), main category found "
                f"{self.category_hits / self.total:.1%}, exact urgency "
                f"{self.urgency_exact / self.total:.1%}")


def _score(rows: list[dict[str, Any]], rules: CompiledRules) -> Scores:
    scores = Scores(len(rows), 0, [], [], 0, 0)
    for row in rows:
        decision = triage(row["text"], rules)
        expected = row["expected_urgency"]
        if expected == "emergency":
            scores.emergencies += 1
            if decision.urgency != "emergency":
                scores.missed.append(row["text"])
        elif decision.urgency == "emergency":
            scores.false_alarms.append(f"{row['text']} -> {decision.explanation()}")
        scores.category_hits += row["expected_categories"][0] in decision.categories
        scores.urgency_exact += decision.urgency == expected
    return scores


# --------------------------------------------------------------------------- labelled sets


def test_labelled_set_is_well_formed() -> None:
    rows = _read("labelled_reports.jsonl")
    assert len(rows) >= 150
    spanish = sum(r["lang"] == "es" for r in rows)
    assert 0.3 <= spanish / len(rows) <= 0.5
    for row in rows:
        assert row["expected_urgency"] in ("emergency", "urgent", "routine")
        assert row["expected_categories"] and set(row["expected_categories"]) <= set(CATEGORIES)


def test_labelled_set_never_misses_an_emergency(rules: CompiledRules) -> None:
    scores = _score(_read("labelled_reports.jsonl"), rules)
    print("\n" + scores.summary("labelled"))
    assert scores.missed == [], "missed emergencies:\n" + "\n".join(scores.missed)
    assert scores.false_alarm_rate < 0.10, "\n".join(scores.false_alarms)
    assert scores.category_hits / scores.total >= 0.90


def test_holdout_figures(rules: CompiledRules) -> None:
    # Written after the rules were frozen and never tuned on. The figures printed here are the
    # honest estimate; the asserts only guard the figures measured (when the set was written:
    # recall 4/14, false alarms 0/26, main category 19/40; after the high-recall tier, which
    # was not tuned on it: 11/14, 0/26, 26/40), so a regression fails the build.
    scores = _score(_read("holdout_reports.jsonl"), rules)
    print("\n" + scores.summary("holdout (never tuned on)"))
    for text in scores.missed:
        print("  missed:", text)
    for text in scores.false_alarms:
        print("  false alarm:", text)
    assert scores.recall >= 11 / 14
    assert scores.false_alarm_rate <= 0 / 26
    assert scores.category_hits >= 26


def _blind_halves() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The blind set's tuning half (first 60% by file order) and held-out half (the rest)."""
    rows = _read("blind_reports.jsonl")
    cut = round(len(rows) * 0.6)
    return rows[:cut], rows[cut:]


def test_blind_set_is_well_formed() -> None:
    rows = _read("blind_reports.jsonl")
    assert len(rows) >= 120
    assert {r["note"] for r in rows} == {"blind-v1"}
    spanish = sum(r["lang"] == "es" for r in rows)
    assert 0.3 <= spanish / len(rows) <= 0.5
    emergencies = sum(r["expected_urgency"] == "emergency" for r in rows)
    # At least as many reports that must not page as reports that must.
    assert len(rows) - emergencies >= emergencies
    for row in rows:
        assert row["expected_urgency"] in ("emergency", "urgent", "routine")
        assert row["expected_categories"] and set(row["expected_categories"]) <= set(CATEGORIES)


def test_blind_tuning_half_figures(rules: CompiledRules) -> None:
    # Tuned on: before the high-recall tier 22/36 and 1/47; these guard the tuned result.
    scores = _score(_blind_halves()[0], rules)
    print("\n" + scores.summary("blind tuning half (tuned on)"))
    assert scores.missed == [], "missed emergencies:\n" + "\n".join(scores.missed)
    assert scores.false_alarm_rate <= 0 / 47, "\n".join(scores.false_alarms)


def test_blind_held_out_figures(rules: CompiledRules) -> None:
    # Never tuned on. Before the high-recall tier: recall 10/21, false alarms 3/34. Measured
    # once after it: recall 21/21, false alarms 3/34 (all three from older rules: a quoted
    # "me quiero morir" said as a habit, a prop gun in the school play, and news of an
    # overdose). The asserts guard those figures; they are not a target to tune towards.
    scores = _score(_blind_halves()[1], rules)
    print("\n" + scores.summary("blind held-out half (never tuned on)"))
    for text in scores.missed:
        print("  missed:", text)
    for text in scores.false_alarms:
        print("  false alarm:", text)
    assert scores.recall >= 21 / 21
    assert scores.false_alarm_rate <= 3 / 34


# --------------------------------------------------------------------------- the brief's cases

EMERGENCIES = [
    "my friend said she wants to kill herself",
    "mi amigo dice que se quiere matar",
    "he's been giving away his stuff and saying goodbye",
    "I don't want to be here anymore",
    "everyone would be better off without me",
    "no aguanto más, quiero desaparecer",
    "he said he'd bring his dad's gun to school tomorrow",
    "voy a llevar una pistola a la escuela",
    "watch what happens Friday",
    "you'll regret it, I know where you live",
    "kms",
    "i want to unalive myself",
    "i want to k1ll myself",
]

# An exception written for one pattern must not hide another: each of these was hidden while a
# rule-wide `unless` ("agua", "glass", "allergy", "partido", "game") guarded an unrelated idiom.
EXCEPTIONS_STAY_NARROW = [
    "se tomó todas las pastillas con agua",
    "she cuts herself with glass",
    "she took all her allergy pills",
    "dice que lo va a matar después del partido",
    "he's going to shoot up the homecoming game",
]

NOT_EMERGENCIES = [
    "this homework is killing me",
    "I almost died laughing",
    "the killer app",
    "drop-dead gorgeous",
    "my mom is going to kill me when she sees my grades",
    "mi mamá me va a matar",
    "me muero de risa",
    "the suicide prevention assembly was great",
    "he's been cutting class and smoking behind the gym",
    "I could kill for a pizza right now",
    "we read about Columbine in history class",
    "she burned her hand on the stove in cooking class",
    "me dicen que soy un estorbo para el equipo",
]


@pytest.mark.parametrize("text", EMERGENCIES)
def test_brief_emergencies(text: str, rules: CompiledRules) -> None:
    decision = triage(text, rules)
    assert decision.urgency == "emergency", decision.explanation()


@pytest.mark.parametrize("text", EXCEPTIONS_STAY_NARROW)
def test_exceptions_do_not_reach_other_patterns(text: str, rules: CompiledRules) -> None:
    assert triage(text, rules).urgency == "emergency", triage(text, rules).explanation()


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_idioms_are_not_emergencies(text: str, rules: CompiledRules) -> None:
    decision = triage(text, rules)
    assert decision.urgency != "emergency", decision.explanation()


@pytest.mark.parametrize("text", ["suicidio", "SUICIDIO", "suicídio", "Suicídio", "s u i c i d i o"])
def test_case_and_accents_do_not_matter(text: str, rules: CompiledRules) -> None:
    decision = triage(text, rules)
    # Letters spelled out one by one are beyond "light" de-obfuscation. The bare word, with no
    # sign of intent, goes to the on-call reviewer first (suicide-mention).
    expected = "routine" if " " in text else "possible-emergency"
    assert decision.urgency == expected


def test_accented_and_unaccented_spanish_agree(rules: CompiledRules) -> None:
    for text in ("pienso en matarme", "pienso en mátarme", "PIENSO EN MATARME"):
        assert triage(text, rules).urgency == "emergency"


def test_wrapped_and_quoted_lines_still_match(rules: CompiledRules) -> None:
    forwarded = "> she said she wants to kill\n> herself tonight"
    decision = triage(forwarded, rules)
    assert decision.urgency == "emergency"
    assert decision.matches[0].matched_text == "kill\n> herself"


# --------------------------------------------------------------------------- explanations


def test_explanation_names_rule_and_words(rules: CompiledRules) -> None:
    text = "My friend said she wants to kill herself."
    decision = triage(text, rules)
    assert decision.categories == ["self-harm"]
    assert decision.explanation() == (
        'emergency: rule "self-harm-intent-en" (self-harm, emergency) matched "kill herself"')
    match = decision.matches[0]
    assert text[match.start:match.end] == match.matched_text == "kill herself"


def test_explanation_names_each_wording_once_with_how_often(rules: CompiledRules) -> None:
    decision = triage("you'll regret this. i said you'll regret it! you'll regret", rules)
    assert len(decision.matches) == 3
    explanation = decision.explanation()
    assert explanation.count("regret") == 1 and '"you\'ll regret" (3 times)' in explanation, explanation
    # Wordings that differ (here in case) are each quoted; one seen once says no count.
    mixed = triage("You'll regret this. you'll regret it", rules).explanation()
    assert '"You\'ll regret", "you\'ll regret"' in mixed and "times" not in mixed, mixed


def test_offsets_point_into_the_original_text(rules: CompiledRules) -> None:
    text = "Straße ‘quote’ — I DON’T want to be here anymore"
    match = triage(text, rules).matches[0]
    assert text[match.start:match.end] == match.matched_text == "DON’T want to be here anymore"


def test_subject_matches_are_labelled(rules: CompiledRules) -> None:
    decision = triage("see below", rules, subject="he has a gun in his backpack")
    assert decision.urgency == "emergency"
    assert {m.field for m in decision.matches} == {"subject"}
    assert "in subject" in decision.explanation()


def test_no_match_is_other_and_routine(rules: CompiledRules) -> None:
    decision = triage("Can I change my locker combination?", rules)
    assert (decision.categories, decision.urgency, decision.matches) == (["other"], "routine", [])
    assert decision.explanation() == 'routine: no rule matched; category "other"'


def test_most_urgent_category_comes_first(rules: CompiledRules) -> None:
    decision = triage("they call me names every day and I want to end my life", rules)
    assert decision.categories == ["self-harm", "bullying"]
    assert json.loads(json.dumps(decision.to_dict()))["urgency"] == "emergency"


# --------------------------------------------------------------------------- configuration

PORTUGUESE = {
    "name": "self-harm-intent-pt",
    "category": "self-harm",
    "urgency": "emergency",
    "language": "pt",
    "patterns": ["quero me matar", "quer se matar", "vou me matar", "tirar minha vida"],
    "unless": ["matar de rir"],
}
FRENCH = {
    "name": "threat-violence-fr",
    "category": "threats-of-violence",
    "urgency": "emergency",
    "language": "fr",
    "patterns": ["je vais te tuer", "il va tirer sur", "re:\\bva (?:tous|toutes) les tuer\\b"],
}


def test_a_new_language_is_only_configuration() -> None:
    rules = load_rules([PORTUGUESE, FRENCH])
    assert triage("Minha amiga disse que QUER SE MATAR", rules).urgency == "emergency"
    assert triage("vou me matar de rir com esse vídeo", rules).urgency == "routine"
    decision = triage("Il a écrit qu'il va tous les tuer vendredi", rules)
    assert decision.categories == ["threats-of-violence"]
    assert decision.matches[0].matched_text == "va tous les tuer"
    # Without the defaults, the new rules work alone.
    alone = load_rules([PORTUGUESE], include_defaults=False)
    assert [r.name for r in alone] == ["self-harm-intent-pt"]


def test_disabled_rules_are_left_out_and_may_be_replaced() -> None:
    without = load_rules(disabled=["weapon-mention"])
    assert "weapon-mention" not in {r.name for r in without}
    replacement = {"name": "weapon-mention", "category": "weapons", "urgency": "routine",
                   "language": "*", "patterns": ["gun"]}
    replaced = load_rules([replacement], disabled=["weapon-mention"])
    assert [r.urgency for r in replaced if r.name == "weapon-mention"] == ["routine"]


def _rule(**changes: Any) -> dict[str, Any]:
    rule = {"name": "my-rule", "category": "bullying", "urgency": "routine", "language": "en",
            "patterns": ["mean girls"]}
    rule.update(changes)
    return {k: v for k, v in rule.items() if v is not None}


@pytest.mark.parametrize(("table", "message"), [
    (_rule(pattern=["x"]),
     '[[triage.rules]] #1 ("my-rule"): unknown key "pattern" (did you mean "patterns"?)'),
    (_rule(urgency="critical"),
     '[[triage.rules]] #1 ("my-rule"): key "urgency" is "critical"; expected emergency, possible-emergency, urgent'),
    (_rule(category="bulying"),
     'key "category" is "bulying" (did you mean "bullying"?); expected one of bullying,'),
    (_rule(patterns=["re:(unclosed"]),
     'patterns[1] "re:(unclosed" is not a valid regular expression (missing ), unterminated '
     "subpattern at position 0)"),
    (_rule(patterns=[]), 'key "patterns" is empty; expected a non-empty list'),
    (_rule(patterns="mean girls"), "key \"patterns\" is 'mean girls'; expected a non-empty list"),
    (_rule(patterns=["!!!"]), 'patterns[1] "!!!" contains no letters or digits to match'),
    (_rule(name="My Rule"), 'key "name" is "My Rule"; expected a kebab-case string'),
    (_rule(language=None), 'missing key "language"'),
    (_rule(window=-5), 'key "window" is -5; expected an integer number of characters'),
    (_rule(unless=["re:[a-"]), 'unless[1] "re:[a-" is not a valid regular expression'),
])
def test_bad_rule_configs_say_what_is_wrong(table: dict[str, Any], message: str) -> None:
    with pytest.raises(TriageRulesError) as caught:
        load_rules([table], include_defaults=False)
    assert message in str(caught.value)


def test_duplicate_names_are_an_error() -> None:
    with pytest.raises(TriageRulesError) as caught:
        load_rules([_rule(name="self-harm-intent-en")])
    assert str(caught.value).startswith(
        '[[triage.rules]] #1 ("self-harm-intent-en"): rule name "self-harm-intent-en" is already '
        "used by default rule #1")
    with pytest.raises(TriageRulesError, match="already used by"):
        load_rules([_rule(), _rule()], include_defaults=False)


def test_other_config_mistakes() -> None:
    with pytest.raises(TriageRulesError, match=r"triage.disabled: no rule is named \['no-such'\]"):
        load_rules(disabled=["no-such"])
    with pytest.raises(TriageRulesError, match="expected a list of tables, found dict"):
        load_rules(_rule())  # type: ignore[arg-type]
    with pytest.raises(TriageRulesError, match="expected a table, found str"):
        load_rules(["self-harm"], include_defaults=False)  # type: ignore[list-item]


def test_default_rules_are_valid_and_cover_both_languages() -> None:
    rules = load_rules()
    assert len({r.name for r in rules}) == len(rules)
    assert {"en", "es", "*"} <= {r.language for r in rules}


def test_no_rule_context_is_satisfied_by_its_own_pattern() -> None:
    # A `requires` entry that a pattern itself contains ("goodbye" requiring "goodbye") makes the
    # context check a no-op: the rule pages on the bare word.
    for rule in load_rules():
        context = compile_alternation(rule.requires)
        if context is None:
            continue
        for pattern in rule.patterns:
            if not is_regex(pattern):
                words = normalise(pattern.replace("*", "").replace("...", " ")).text
                assert context.search(words) is None, (rule.name, pattern)


# --------------------------------------------------------------------------- anchors


@pytest.mark.parametrize(("pattern", "anchors"), [
    (r"re:\b(?:took|swallow\w*|lots?)\b x", ("lot", "swallow", "took")),
    (r"re:\bwraps?\b", ("wrap",)),
    (r"re:\bcall(?:s|ed)?\b", ("call",)),
    (r"re:\b(?:mamá|Papa)s?\b", ("mama", "papa")),
    # A first group whose alternatives begin with word lists of their own (nested once or more).
    (r"re:\b(?:(?:going|gonna)\W+to|(?:ill|will)\W+|quier\w*)\W*kill", ("going", "gonna", "ill", "quier", "will")),
    (r"re:\b(?:(?:(?:va|vamos)\W+a)|ir)\b", ("ir", "va", "vamos")),
    # Shapes that are not understood run on every text.
    (r"re:\bfoo|\bbar", ()),
    (r"re:\b(?:ab|cd)?x", ()),
    (r"re:\b(?:a(?:b|c)|de)x", ()),
    (r"re:\b(?:[ab]c|de)", ()),
    (r"re:\b(?:(?:ab|cd)?x|de)", ()),
    (r"re:\b(?:(?:ab|c)x|de)", ()),
    (r"re:\b\w+ gun", ()),
    (r"re:gun", ()),
])
def test_regex_anchors(pattern: str, anchors: tuple[str, ...]) -> None:
    assert regex_anchors(pattern) == anchors


def test_regex_anchors_never_hide_a_match() -> None:
    # Triage tries an anchored regex only where a word with one of its anchors starts; every
    # match of every default regex over all fixtures must start at such a word.
    texts = [normalise(row["text"]).text for name in
             ("labelled_reports.jsonl", "holdout_reports.jsonl", "blind_reports.jsonl")
             for row in _read(name)]
    checked = 0
    for rule in load_rules():
        for pattern in (p for p in rule.patterns if is_regex(p)):
            anchors = regex_anchors(pattern)
            for text in texts if anchors else ():
                for hit in compile_pattern(pattern).finditer(text):
                    word = re.match(r"\w+", text[hit.start():])
                    assert word and word.group().startswith(anchors), (rule.name, text)
                    checked += 1
    assert checked > 50


# --------------------------------------------------------------------------- robustness, speed


def test_compiled_rules_are_cached() -> None:
    rules = load_rules()
    assert compile_rules(rules) is compile_rules(list(rules))


@pytest.mark.serial  # timed: another test on the other core would skew it
def test_a_typical_report_triages_well_under_a_millisecond(rules: CompiledRules) -> None:
    report = ("Hi, I'm writing about something that happened in 4th period today. " * 20
              + "My friend said she wants to kill herself and Jake keeps calling her fat.")[:2048]
    triage(report, rules)
    runs = 200
    start = time.perf_counter()
    for _ in range(runs):
        triage(report, rules)
    per_report = (time.perf_counter() - start) / runs
    print(f"\n2 KB report: {per_report * 1000:.3f} ms")
    # Measured about 0.2 ms on the first machine and 0.3 ms on a busy 2-core one (0.55 ms there
    # before regexes were anchored); the bound leaves room for slow CI machines.
    assert per_report < 0.005


@pytest.mark.parametrize("unit", [
    "a", "kill ", "bring " * 3, "this homework is killing me. ", "é’ ", "ß", ". ", "\n> ",
    "i know where you live ",
])
@pytest.mark.serial  # timed: another test on the other core would skew it
def test_a_megabyte_finishes_quickly(unit: str, rules: CompiledRules) -> None:
    text = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
    start = time.perf_counter()
    decision = triage(text, rules)
    assert time.perf_counter() - start < 5
    for match in decision.matches:
        assert text[match.start:match.end] == match.matched_text


@settings(max_examples=300, deadline=None)
@given(text=st.text(), subject=st.text(max_size=50))
def test_arbitrary_text_never_raises(text: str, subject: str, rules: CompiledRules) -> None:
    decision = triage(text, rules, subject=subject)
    assert decision.urgency in ("emergency", "urgent", "routine")
    for match in decision.matches:
        source = subject if match.field == "subject" else text
        assert 0 <= match.start < match.end <= len(source)
        assert source[match.start:match.end] == match.matched_text
    decision.explanation()


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.sampled_from(
    ["kill", "myself", "k1ll", "’", "ß", "ﬁ", "\u0301", " ", "\n", ">", "suicídio", "gun",
     "school", "nerf", "mom", "is", "going", "to", "me", "é", "İ", "...", "-"]), max_size=40))
def test_report_like_noise_keeps_offsets_exact(parts: list[str], rules: CompiledRules) -> None:
    text = "".join(parts)
    for match in triage(text, rules).matches:
        assert text[match.start:match.end] == match.matched_text


@pytest.mark.parametrize("text", [
    "Il m'a touché les fesses dans le couloir devant tout le monde",
    "o menino passou a mão na minha bunda no recreio",
    "ein typ aus der 10 grapscht mädchen im bus an",
    "он лапал меня в раздевалке",
    "bus me ek ladka roz chhedkhani karta hai",
    "الأستاذ يتحرش بالبنات في الصف",
    "thằng đó sờ soạng tao trong lớp",
    "他在公交车上对我性骚扰",
    "선배가 계속 성희롱을 해요",
])
def test_sexual_harassment_is_categorised_beyond_english_and_spanish(text: str, rules: CompiledRules) -> None:
    decision = triage(text, rules)
    assert "sexual-harassment" in decision.categories and decision.urgency == "urgent", (decision.categories, text)


def test_a_word_that_only_looks_like_groping_once_accents_are_stripped_is_not_sexual_harassment(
        rules: CompiledRules) -> None:
    # Vietnamese 'sờ mó' (groping) and 'số mỗ' (a number) are one string without accents: not listed.
    assert "sexual-harassment" not in triage("cho em hỏi số mỗ tiền học là bao nhiêu", rules).categories
