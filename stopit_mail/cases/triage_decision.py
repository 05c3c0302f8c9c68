"""What triage decides: the urgency tier, the categories, and the evidence for both.

Kept apart from the rules engine (``triage``) and the model (``detect``) because both produce it and
every reader of a case (the worker, `cases show`, pages, statistics) consumes it.
"""

from __future__ import annotations

import copy as _copy
from collections import Counter
from dataclasses import asdict, dataclass, fields, replace
from dataclasses import field as _field
from typing import Any

# Most urgent first; the index is the rank used to combine evidence. An *emergency* pages the chain
# at once; a *possible-emergency* goes to the on-call reviewer first (and to the chain if nobody
# answers in time); *urgent* and *routine* wait for staff.
URGENCIES = ("emergency", "possible-emergency", "urgent", "routine")


def most_urgent(*urgencies: str) -> str:
    """The most urgent of ``urgencies`` (unknown values rank last)."""
    return min(urgencies, key=lambda u: URGENCIES.index(u) if u in URGENCIES else len(URGENCIES))


@dataclass(frozen=True)
class RuleMatch:
    """Evidence: rule ``rule`` matched ``matched_text`` at [start, end) of the original field.

    ``held_by`` is the context cue (a past, resolved incident...) that held an emergency rule's hit
    at possible-emergency, for the reviewer to see."""

    rule: str
    category: str
    urgency: str
    matched_text: str
    start: int
    end: int
    field: str = "body"
    held_by: str = ""


@dataclass(frozen=True)
class Resemblance:
    """Evidence from the model: ``sentence`` resembles the reviewed ``example`` with ``score``."""

    sentence: str
    field: str
    language: str
    example: str
    label: str
    category: str
    source: str
    score: float
    probability: float
    tier: str
    # Why the tier is below what the vote alone gave (a reviewed negative as near), if it is.
    held_by: str = ""

    def explain(self) -> str:
        held = f", but {self.held_by}" if self.held_by else ""
        return (f'sentence "{self.sentence}" ({self.language}) resembles reviewed example "{self.example}" '
                f"({self.label}, {self.category}; similarity {self.score:.2f}, "
                f"{self.label} vote {self.probability:.0%}){held} -> {self.tier}")


@dataclass
class TriageDecision:
    """Categories (most urgent first), the overall urgency and the evidence that justifies them.

    ``matches`` are rule hits; ``resemblances`` the model's (empty when the model did not run);
    ``languages`` the report's languages, most sentences first; ``notes`` anything else that
    moved the urgency (a language without reviewed examples, the model being unavailable).
    """

    categories: list[str]
    urgency: str
    matches: list[RuleMatch]
    resemblances: list[Resemblance] = _field(default_factory=list)
    languages: list[str] = _field(default_factory=list)
    notes: list[str] = _field(default_factory=list)
    model: str = ""

    def copy(self) -> TriageDecision:
        """A copy whose lists can be changed without changing this one: what ``copy.deepcopy``
        gave, at a fraction of its cost (the evidence in the lists is frozen, the rest is text)."""
        return replace(self, **{f.name: _copied(getattr(self, f.name)) for f in fields(self)})

    def explanation(self) -> str:
        """One line a case worker can read: the urgency, each rule and its words, each resemblance."""
        parts = self._rule_parts() + [r.explain() for r in self.resemblances] + list(self.notes)
        languages = f" [{', '.join(self.languages)}]" if self.languages else ""
        if not parts:
            return f'{self.urgency}{languages}: no rule matched; category "other"'
        return f"{self.urgency}{languages}: " + "; ".join(parts)

    def _rule_parts(self) -> list[str]:
        by_rule: dict[str, list[RuleMatch]] = {}
        for match in sorted(self.matches, key=lambda m: URGENCIES.index(m.urgency)):
            by_rule.setdefault(match.rule, []).append(match)
        parts: list[str] = []
        for rule, found in by_rule.items():
            # Each wording once, with how often it matched: a phrase repeated in the subject, the
            # reporter's words and the forwarded message read "you'll regret" three times over.
            counts = Counter(m.matched_text for m in found)  # first-seen order
            quoted = ", ".join(f'"{text}"' + (f" ({n} times)" if n > 1 else "") for text, n in counts.items())
            where = " in subject" if all(m.field == "subject" for m in found) else ""
            held = f' (held for the reviewer by "{found[0].held_by}")' if found[0].held_by else ""
            parts.append(f'rule "{rule}" ({found[0].category}, {found[0].urgency}) '
                         f"matched {quoted}{where}{held}")
        return parts

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for the case record and the audit log."""
        return {
            "categories": list(self.categories),
            "urgency": self.urgency,
            "matches": [asdict(m) for m in self.matches],
            "resemblances": [asdict(r) for r in self.resemblances],
            "languages": list(self.languages),
            "notes": list(self.notes),
            "model": self.model,
            "explanation": self.explanation(),
        }


_SHARED = (str, int, float, bool, type(None), RuleMatch, Resemblance)


def _copied(value: Any) -> Any:
    """A list of frozen evidence or text copied one level deep; anything else deep-copied."""
    if isinstance(value, _SHARED):
        return value
    if isinstance(value, list) and all(isinstance(item, _SHARED) for item in value):
        return list(value)
    return _copy.deepcopy(value)
