"""A report's categories (detect/categories.py): what the rules said, what the model decided, and
what the nearest reviewed examples of any label agree on, with no category from a weak resemblance.

The decisions are built from explicit neighbourhoods (``hood``) where the numbers matter, and from
the deterministic stand-in embedding (``Detector``) where the plumbing matters; urgency is checked
to be exactly what it would be without the category step.
"""

from __future__ import annotations

from stopit_mail.cases.detect.bank import Example, make_bank
from stopit_mail.cases.detect.categories import DEFAULT_LIMITS, CategoryLimits, assemble, sentence_vote
from stopit_mail.cases.detect.detector import Detector
from stopit_mail.cases.detect.model import ModelStatus, StandInEmbedder
from stopit_mail.cases.detect.scoring import Neighbourhood
from stopit_mail.cases.detect.sentences import Sentence
from stopit_mail.cases.detect.tiers import decide
from stopit_mail.cases.triage import compile_rules, load_rules, triage
from stopit_mail.cases.triage_decision import Resemblance, TriageDecision

RULES = compile_rules(load_rules())
# Worded so that no rule names it: these tests are about what the neighbours say.
GROPING = Example("negative", "sexual-harassment", "a boy in my grade keeps doing gross stuff to me by the lockers", "en")
BODY = Example("negative", "sexual-harassment", "some boys keep rating the girls' bodies out loud in class", "en")
YELLING = Example("negative", "misconduct", "the band teacher screams at us until someone cries", "en")
CANT_GO_ON = Example("concern", "self-harm", "i can't do this anymore", "en")
PILLS = Example("emergency", "self-harm", "i swallowed the whole bottle of grandmas heart pills", "en")
NOVEL = Example("negative", "self-harm", "in our reading group the hero tries to kill himself in chapter nine", "en")


def hood(*nearest: tuple[Example, float], votes: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> Neighbourhood:
    """A sentence whose nearest examples (any label) are ``nearest``, most similar first, and whose
    label vote is ``votes`` (emergency, concern, negative)."""
    by_label: dict[str, tuple[Example, float]] = {}
    for example, score in nearest:
        by_label.setdefault(example.label, (example, score))
    probabilities = dict(zip(("emergency", "concern", "negative"), votes, strict=True))
    return Neighbourhood(probabilities, nearest[0][0], nearest[0][1], by_label, nearest_few=tuple(nearest))


def rules_saying(*categories: str, urgency: str = "routine") -> TriageDecision:
    return TriageDecision(list(categories), urgency, [])


def resemblance(example: Example, tier: str, probability: float, sentence: int = 0) -> Resemblance:
    """The model's resemblance of the report's ``sentence``-th sentence (see ``categories``)."""
    return Resemblance(f"sentence {sentence}", "body", "en", example.sentence, example.label, example.category,
                       "shipped", 0.9, probability, tier)


def categories(rules: TriageDecision, resemblances: list[Resemblance], hoods: list[Neighbourhood], urgency: str,
               limits: CategoryLimits = DEFAULT_LIMITS) -> list[str]:
    """``assemble`` for a report whose i-th sentence reads "sentence i" and has the i-th of ``hoods``."""
    sentences = [Sentence(f"sentence {i}") for i in range(len(hoods))]
    return assemble(rules, resemblances, sentences, hoods, urgency, limits)


def test_the_nearest_examples_of_any_label_name_a_report_no_rule_could_categorise() -> None:
    neighbours = hood((GROPING, 0.91), (BODY, 0.90), (CANT_GO_ON, 0.89), votes=(0.0, 0.2, 0.8))
    assert categories(rules_saying("other"), [], [neighbours], "routine") == ["sexual-harassment"]


def test_the_vote_is_weighted_by_similarity_not_counted() -> None:
    # Two misconduct examples a little further away do not outvote a much closer groping example.
    neighbours = hood((GROPING, 0.93), (YELLING, 0.90), (YELLING, 0.895))
    vote = sentence_vote(neighbours)
    assert vote["sexual-harassment"] > 0.9 > vote["misconduct"]
    assert categories(rules_saying("other"), [], [neighbours], "routine") == ["sexual-harassment"]


def test_a_sentence_whose_nearest_example_is_not_close_votes_nothing() -> None:
    far = hood((GROPING, 0.85), (BODY, 0.84))
    assert sentence_vote(far) == {}
    assert categories(rules_saying("other"), [], [far], "routine") == ["other"]


def test_the_rules_categories_stay_and_a_clear_vote_adds_a_more_specific_one() -> None:
    clear = hood((GROPING, 0.92), (BODY, 0.91), (YELLING, 0.86))
    assert categories(rules_saying("bullying"), [], [clear], "urgent") == ["bullying", "sexual-harassment"]
    # A split vote does not add to what the rules named (it would to a report the rules left as "other").
    split = hood((GROPING, 0.91), (YELLING, 0.91))
    assert categories(rules_saying("bullying"), [], [split], "urgent") == ["bullying"]
    assert "sexual-harassment" in categories(rules_saying("other"), [], [split], "urgent")


def test_a_second_category_from_the_vote_needs_the_clear_vote_a_category_beside_the_rules_needs() -> None:
    # Each sentence votes on its own: one sentence about groping (clear), another whose neighbours
    # lean only a little towards misconduct (a parent saying she is the lunch aide). Only the clear
    # one names the report; a second sentence as clear as the first adds its category.
    clear = hood((GROPING, 0.92), (BODY, 0.91), (YELLING, 0.86))
    leaning = hood((YELLING, 0.91), (GROPING, 0.905), (BODY, 0.90))
    assert sentence_vote(leaning)["misconduct"] >= DEFAULT_LIMITS.share
    assert categories(rules_saying("other"), [], [clear, leaning], "routine") == ["sexual-harassment"]
    assert categories(rules_saying("other"), [], [leaning], "routine")[0] == "misconduct"
    yelling = hood((YELLING, 0.92), (YELLING, 0.91), (GROPING, 0.86))
    assert categories(rules_saying("other"), [], [clear, yelling], "routine") == ["sexual-harassment", "misconduct"]
    # A danger the vote gives a paged report does not count: it says nothing about the ordinary category.
    pills = hood((PILLS, 0.93), (CANT_GO_ON, 0.925), votes=(0.9, 0.1, 0.0))
    assert categories(rules_saying("other"), [], [pills, leaning], "emergency") == ["self-harm", "misconduct"]


def test_a_generic_category_gives_way_to_its_specific_kind_from_the_rules_or_the_vote() -> None:
    assert categories(rules_saying("bullying", "cyberbullying"), [], [], "routine") == ["cyberbullying"]
    assert categories(rules_saying("harassment", "sexual-exploitation"), [], [], "urgent") == ["sexual-exploitation"]
    clear = hood((GROPING, 0.92), (BODY, 0.91), (YELLING, 0.86))
    assert categories(rules_saying("harassment"), [], [clear], "urgent") == ["sexual-harassment"]
    # Among the rules' own, an app's name ("cyberbullying") gives way to the conduct the rules found.
    assert categories(rules_saying("cyberbullying", "inappropriate-online-behaviour"), [], [], "routine") \
        == ["inappropriate-online-behaviour"]
    # Categories that are not kinds of one another both stay.
    assert categories(rules_saying("bullying", "discrimination"), [], [], "routine") == ["bullying", "discrimination"]
    assert categories(rules_saying("harassment", "misconduct"), [], [], "routine") == ["harassment", "misconduct"]


def test_at_the_emergency_tier_cyberbullying_gives_way_to_the_danger_it_was_posted_with() -> None:
    # A goodbye or a threat written in the class group chat pages as self-harm or a threat.
    assert categories(rules_saying("cyberbullying", "self-harm"), [], [], "emergency") == ["self-harm"]
    assert categories(rules_saying("cyberbullying", "threat-to-group"), [], [], "emergency") == ["threat-to-group"]
    # Below the emergency tier (a routine report the model paged by mistake) it stays, and so it
    # does beside a category that is no danger.
    assert categories(rules_saying("cyberbullying", "self-harm"), [], [], "possible-emergency") \
        == ["cyberbullying", "self-harm"]
    assert categories(rules_saying("cyberbullying", "sexual-harassment"), [], [], "emergency") \
        == ["cyberbullying", "sexual-harassment"]


def test_other_is_dropped_when_anything_more_specific_is_found_and_kept_when_nothing_is() -> None:
    assert categories(rules_saying("other"), [], [], "routine") == ["other"]
    assert "other" not in categories(rules_saying("other"), [], [hood((YELLING, 0.92))], "routine")


def test_a_weak_resemblance_adds_no_category() -> None:
    # The sentence's nearest examples: a misconduct one, then the concern (self-harm share 0.38).
    near = hood((YELLING, 0.90), (CANT_GO_ON, 0.895), votes=(0.0, 0.7, 0.3))
    weak = resemblance(CANT_GO_ON, "possible-emergency", probability=0.4)
    assert categories(rules_saying("other"), [weak], [near], "possible-emergency") == ["misconduct"]
    decisive = resemblance(CANT_GO_ON, "possible-emergency", probability=0.7)
    assert categories(rules_saying("other"), [decisive], [near], "possible-emergency") == ["self-harm"]
    # A strong label vote whose own sentence's nearest examples are about something else is weak too.
    elsewhere = hood((YELLING, 0.90), (YELLING, 0.89), (CANT_GO_ON, 0.86), votes=(0.0, 0.7, 0.3))
    assert categories(rules_saying("other"), [decisive], [elsewhere], "possible-emergency") == ["misconduct"]


def test_at_the_reviewer_tier_a_resemblance_names_nothing_beside_a_routine_category_the_rules_found() -> None:
    near = hood((YELLING, 0.90), (CANT_GO_ON, 0.895), votes=(0.0, 0.7, 0.3))
    reviewer = resemblance(CANT_GO_ON, "possible-emergency", probability=0.7)
    assert categories(rules_saying("sexual-harassment"), [reviewer], [near], "possible-emergency") \
        == ["sexual-harassment"]
    # Beside a danger the rules found, or with nothing found, it still names its category...
    assert categories(rules_saying("threats-of-violence"), [reviewer], [near], "possible-emergency") \
        == ["threats-of-violence", "self-harm"]
    assert categories(rules_saying("other"), [reviewer], [near], "possible-emergency") == ["self-harm"]
    # ...and at the emergency tier, where the chain is paged at once, it always does.
    confident = resemblance(CANT_GO_ON, "emergency", probability=0.7)
    assert categories(rules_saying("sexual-harassment"), [confident], [near], "emergency") \
        == ["sexual-harassment", "self-harm"]


def test_a_resemblance_below_the_reports_tier_names_nothing() -> None:
    # The rules paged for a threat; a concern resemblance at the urgent tier did not decide anything.
    urgent = resemblance(CANT_GO_ON, "urgent", probability=0.9)
    near = hood((YELLING, 0.90), (CANT_GO_ON, 0.895), votes=(0.0, 0.9, 0.1))
    assert categories(rules_saying("threats-of-violence", urgency="emergency"), [urgent], [near], "emergency") \
        == ["threats-of-violence"]


def test_danger_categories_come_from_the_vote_only_for_a_report_the_model_or_rules_paged() -> None:
    # A routine report near a reviewed negative about a novel's suicide scene is schoolwork, not "self-harm".
    novel = hood((NOVEL, 0.93), (NOVEL, 0.92))
    assert categories(rules_saying("other"), [], [novel], "routine") == ["other"]
    paged = hood((PILLS, 0.93), (PILLS, 0.92), votes=(0.9, 0.0, 0.1))
    assert categories(rules_saying("other"), [], [paged], "possible-emergency") == ["self-harm"]
    strict = CategoryLimits(danger_share=1.01)
    assert categories(rules_saying("other"), [], [paged], "possible-emergency", strict) == ["other"]


def test_decide_takes_its_categories_from_the_assembly_and_leaves_the_urgency_alone() -> None:
    text = "he keeps doing gross stuff near the lockers"
    rules = triage(text, RULES)
    neighbours = hood((GROPING, 0.91), (BODY, 0.90))
    decision = decide(rules, [Sentence(text)], ["en"], [neighbours], frozenset({"en"}), "test")
    assert decision.categories == ["sexual-harassment"]
    assert decision.urgency == rules.urgency == "routine"


def test_a_vague_sentence_resembling_a_concern_pages_the_reviewer_without_naming_self_harm() -> None:
    """A routine report's one vague sentence whose label vote only just reaches the reviewer tier:
    the reviewer is paged as before (urgency untouched), but the report reads as what its
    neighbours say it is, not "self-harm"."""
    text = "i dont think its ok"
    vague = hood((YELLING, 0.895), (YELLING, 0.889), (CANT_GO_ON, 0.88), votes=(0.0, 0.58, 0.42))
    decision = decide(triage(text, RULES), [Sentence(text)], ["en"], [vague], frozenset({"en"}), "test")
    assert decision.urgency == "possible-emergency", decision.explanation()
    assert decision.resemblances and decision.resemblances[0].category == "self-harm"
    assert decision.categories == ["misconduct"]


def test_the_detector_with_the_stand_in_model_categorises_a_routine_report_by_its_neighbours() -> None:
    bank = make_bank([GROPING, BODY, YELLING, PILLS, CANT_GO_ON, NOVEL,
                      Example("negative", "other", "the cafeteria pizza on friday was cold again", "en")])
    embedder = StandInEmbedder()
    detector = Detector(embedder, ModelStatus(True, embedder.name, "stand-in"), bank=bank)
    text = GROPING.sentence
    decision = detector.assess(text, RULES)
    assert decision.categories == ["sexual-harassment"], decision.explanation()
    assert decision.urgency == "routine"
    assert detector.assess("the band teacher screams at us until someone cries", RULES).categories == ["misconduct"]
