"""Combine the rules' verdict, the model's resemblances and the languages into one tier.

The rules stay: they explain, they categorise, and an organisation's own rules keep working. The
model can only *raise* the urgency the rules gave, never lower it. Three safety floors:
- without the model every report is at least *urgent* (a person reads it soon);
- a sentence in a language the bank has no reviewed examples for makes the report at least
  *urgent* (the model's opinion there is not backed by anything a person reviewed);
- a sentence the model places among emergencies or concerns makes it at least *possible-emergency*.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from stopit_mail.cases.detect.language import UNDETERMINED
from stopit_mail.cases.detect.scoring import Neighbourhood
from stopit_mail.cases.detect.sentences import Sentence
from stopit_mail.cases.triage_decision import URGENCIES, Resemblance, TriageDecision, most_urgent


@dataclass(frozen=True)
class Thresholds:
    """Where the vote of a sentence's neighbours puts it. Calibrated on the shipped bank and the
    older triage fixtures (never on the dev set, which only measures)."""

    # Confident emergency: the neighbours agree and the closest emergency example is close.
    confident_vote: float = 0.75
    confident_similarity: float = 0.88
    # Reviewer tier: emergency and concern votes together, with a close enough example.
    review_vote: float = 0.5
    review_similarity: float = 0.86
    # Urgent: a weaker resemblance to emergencies or concerns still gets a person's eyes soon.
    urgent_vote: float = 0.35
    # A category is borrowed from the nearest examples only when they are this close and agree.
    category_similarity: float = 0.87
    category_vote: float = 0.6


DEFAULT_THRESHOLDS = Thresholds()


def sentence_tier(hood: Neighbourhood, limits: Thresholds = DEFAULT_THRESHOLDS) -> str:
    """The tier one sentence alone would justify."""
    emergency, concern = hood.probability("emergency"), hood.probability("concern")
    closest = max((hood.by_label[label][1] for label in ("emergency", "concern") if label in hood.by_label),
                  default=0.0)
    if emergency >= limits.confident_vote and hood.by_label["emergency"][1] >= limits.confident_similarity:
        return "emergency"
    if emergency + concern >= limits.review_vote and closest >= limits.review_similarity:
        return "possible-emergency"
    if emergency + concern >= limits.urgent_vote:
        return "urgent"
    return "routine"


def _resemblance(sentence: Sentence, language: str, hood: Neighbourhood, tier: str) -> Resemblance:
    label = "emergency" if tier == "emergency" else max(
        ("emergency", "concern"), key=hood.probability) if tier != "routine" else hood.nearest.label
    example, score = hood.by_label.get(label, (hood.nearest, hood.similarity))
    return Resemblance(sentence.text[:300], sentence.field, language, example.sentence, example.label,
                       example.category, example.source, round(score, 3), round(hood.probability(label), 3), tier)


def _borrowed_categories(hoods: Sequence[Neighbourhood], limits: Thresholds) -> list[str]:
    """Categories the nearest examples agree on, for reports no rule could categorise."""
    votes: Counter[str] = Counter()
    for hood in hoods:
        example, score = hood.nearest, hood.similarity
        if score >= limits.category_similarity and hood.probability(example.label) >= limits.category_vote \
                and example.category != "other":
            votes[example.category] += 1
    return [category for category, _ in votes.most_common(2)]


def decide(rules: TriageDecision, sentences: Sequence[Sentence], languages: Sequence[str],
           hoods: Sequence[Neighbourhood], bank_languages: frozenset[str], model: str,
           limits: Thresholds = DEFAULT_THRESHOLDS) -> TriageDecision:
    """The final decision: the rules' urgency raised by the model and by unreviewed languages."""
    urgency = rules.urgency
    resemblances = []
    raising: list[Neighbourhood] = []
    for sentence, language, hood in zip(sentences, languages, hoods, strict=True):
        tier = sentence_tier(hood, limits)
        if tier != "routine":
            resemblances.append(_resemblance(sentence, language, hood, tier))
            raising.append(hood)
        urgency = most_urgent(urgency, tier)
    resemblances.sort(key=lambda r: (URGENCIES.index(r.tier), -r.score))
    categories = list(rules.categories)
    found = [r.category for r in resemblances if r.label != "negative"]
    found += _borrowed_categories(hoods, limits) if categories == ["other"] else []
    for category in found:
        if category not in categories:
            categories.append(category)
    if len(categories) > 1 and "other" in categories:
        categories.remove("other")
    notes = unreviewed_language_notes(languages, bank_languages)
    if notes:
        urgency = most_urgent(urgency, "urgent")
    return TriageDecision(categories, urgency, rules.matches, resemblances[:5], language_list(languages),
                          notes, model)


def without_model(rules: TriageDecision, languages: Sequence[str], reason: str) -> TriageDecision:
    """Rules only, every report at least *urgent*: a person must read what the model could not."""
    notes = [f"triage model unavailable ({reason}): rules only, raised to at least urgent"]
    return TriageDecision(rules.categories, most_urgent(rules.urgency, "urgent"), rules.matches, [],
                          language_list(languages), notes, "")


def unreviewed_language_notes(languages: Sequence[str], bank_languages: frozenset[str]) -> list[str]:
    missing = sorted({lang for lang in languages if lang != UNDETERMINED and lang not in bank_languages})
    if not missing:
        return []
    return [f"written partly in {', '.join(missing)}, a language without reviewed examples: at least urgent"]


def language_list(languages: Sequence[str]) -> list[str]:
    return [lang for lang, _ in Counter(c for c in languages if c != UNDETERMINED).most_common()]
