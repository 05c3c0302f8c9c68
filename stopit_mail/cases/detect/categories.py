"""A report's categories: the rules', the model's when it raised the tier, and its neighbours' vote.

Categories route a case (an office's automatic referral, the statistics, who on the staff picks it
up), so a wrong one costs as much as a missing one: "self-harm" on a report about a teacher
yelling sends it to the counsellor, and only "other" sends it nowhere. Urgency is never touched
here; ``tiers`` decides it and this only names what the report is about.

- The rules' categories always stay: an organisation's own rules categorise on purpose.
- A resemblance gives its category only when it decided the tier: it reached the report's final
  urgency, at the reviewer tier or above, and it is not weak: its label's vote reaches
  ``resemblance_vote`` and its own sentence's nearest examples give its category a share too
  (``resemblance_support``).
  A routine report whose one vague sentence resembled "i can't do this anymore" no longer also reads
  "self-harm" unless its neighbours say so; the reviewer still sees the resemblance and why.
  At the reviewer tier (*possible-emergency*) a resemblance names nothing when the rules already
  named a category that is no danger: the reviewer is asked whether the resemblance is right, and
  until then a groping report stays "sexual-harassment" without also reading "self-harm".
- Each sentence's few nearest reviewed examples *of any label* vote for their categories, weighted
  by similarity (``scoring.Neighbourhood.nearest_few``): reviewed negatives carry the routine
  categories (a groping report, a teacher yelling) that emergencies' examples never do. A category
  the vote gives is added when a sentence close enough (``similarity``) agrees enough (``share``;
  more, ``specific_share``, when the rules, the model or a stronger vote already named something,
  so a clear "sexual-harassment" can join a rule's bare "harassment" without every report
  collecting three, one per sentence).
  The danger categories (self-harm, threats, weapons, sexual exploitation) come from the vote only
  for a report at the reviewer tier or above: for the rest they would be what a resemblance too weak
  to raise the tier whispered.
- The category examples (``category_bank``: ordinary reports written per category, in every bank
  language) join the nearest examples for this vote only, never the urgency's, and only for a report
  below the reviewer tier. For such a report that nothing else named, a sentence whose neighbours are
  not mostly about a danger votes again without the danger examples (which it cannot be given): an
  emergency example nearest to "they push him at recess" only diluted the "bullying" the rest agreed
  on. Each category the vote gives comes with its reason (``vote_reason``): the sentence, the
  example it resembles and its share of the vote.
- "other" is dropped whenever anything more specific was found, and so is a generic category when
  its specific kind was found too (``SPECIFIC``): "bullying" beside "cyberbullying", "harassment"
  beside "sexual-harassment" or "sexual-exploitation". The specific one routes the case (the rules
  name "bullying" for "they mock me" and "cyberbullying" for the group chat it happens in), and
  the pair told staff nothing the specific one does not. Among the rules' own categories,
  "cyberbullying" (often only an app's name) gives way to "inappropriate-online-behaviour".
- At the *emergency* tier, "cyberbullying" gives way to a danger category: a goodbye or a threat
  written in the class group chat is self-harm or a threat, and "cyberbullying" there only said
  where it was posted. Below that tier it stays (a routine report the model paged by mistake keeps
  what its rules found).

Measured with `python bench/triage_categories.py` on the dev set's routine and urgent reports (the
values below were chosen there, so the dev figures are not a clean measurement of them; the
holdout set is).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stopit_mail.cases.detect.scoring import Neighbourhood
from stopit_mail.cases.detect.sentences import Sentence
from stopit_mail.cases.triage_decision import Resemblance, TriageDecision

# Categories that page or refer on their own: the vote gives them only to a report already paged.
DANGER = frozenset({"self-harm", "threats-of-violence", "threat-to-group", "weapons", "sexual-exploitation"})
PAGED = ("emergency", "possible-emergency")
OTHER = "other"
# The source of the category examples (``category_bank``): ordinary reports, never a paged one's voters.
ORDINARY_SOURCE = "category examples"
# A generic category and the specific kinds of it that make it redundant when found beside it.
SPECIFIC = {"bullying": ("cyberbullying",), "harassment": ("sexual-harassment", "sexual-exploitation")}
# The same among the rules' own categories only: an app's name makes the rules say "cyberbullying",
# and when they also found an adult or an older pupil contacting younger ones, that conduct is the
# report's category (the model's weaker "inappropriate-online-behaviour" does not displace it).
RULED_SPECIFIC = {"cyberbullying": ("inappropriate-online-behaviour",)}


@dataclass(frozen=True)
class CategoryLimits:
    """How close and how unanimous the neighbours must be before their category is believed.

    Chosen on the dev set's routine and urgent reports (`bench/triage_categories.py`), checked
    against its emergencies (whose categories must not get worse): the vote of the 5 nearest with a
    sharp temperature (0.01) found more expected categories than 10 or 20 neighbours or softer
    weights, which let the bank's thousands of self-harm examples into every vote."""

    # A resemblance's label vote under this is too weak to name the report's category.
    resemblance_vote: float = 0.5
    # ...nor one whose own sentence's nearest examples give its category less than this share.
    resemblance_support: float = 0.2
    # Only a sentence whose nearest example is at least this similar votes a category.
    similarity: float = 0.87
    # The vote's temperature: each of the nearest examples weighs exp((similarity - best) / this).
    temperature: float = 0.01
    # A category with this share of one sentence's vote is the report's when nothing else named one...
    share: float = 0.4
    # ...and with this share when the rules or the model already named something.
    specific_share: float = 0.75
    # A danger category needs this share, and a report at the reviewer tier or above.
    danger_share: float = 0.6
    # How many of a sentence's nearest examples vote.
    voters: int = 5
    # A sentence whose vote gives the danger categories this share together is about a danger: its
    # vote is not taken again without them for a report nothing named.
    danger_majority: float = 0.5


DEFAULT_LIMITS = CategoryLimits()


def sentence_vote(hood: Neighbourhood, limits: CategoryLimits = DEFAULT_LIMITS, danger: bool = True,
                  ordinary: bool = True) -> dict[str, float]:
    """Each category's share of the similarity-weighted vote of the sentence's ``limits.voters``
    nearest examples ({} when the nearest is not close enough to say anything).

    Without ``danger`` (a report below the reviewer tier that nothing else named, which the vote
    cannot give a danger category) the voters are the nearest examples of the other categories: an
    emergency example among them only diluted the share of the ordinary category the rest agreed
    on. Without ``ordinary`` (a paged report) the category examples (``category_bank``, ordinary
    reports written for their category) do not vote: an overdose told in a pupil's words resembles
    a pupil's complaint about vaping, and "substance-use" would be wrong there."""
    voters = [(e, s) for e, s in hood.nearest_few
              if (danger or e.category not in DANGER) and (ordinary or e.source != ORDINARY_SOURCE)][:limits.voters]
    if not voters or voters[0][1] < limits.similarity:
        return {}
    best = voters[0][1]
    votes: dict[str, float] = {}
    for example, score in voters:
        votes[example.category] = votes.get(example.category, 0.0) + math.exp((score - best) / limits.temperature)
    total = sum(votes.values())
    return {category: weight / total for category, weight in votes.items()}


def deciding_categories(resemblances: Sequence[Resemblance], votes: dict[str, dict[str, float]], urgency: str,
                        limits: CategoryLimits = DEFAULT_LIMITS, ruled: Sequence[str] = ()) -> list[str]:
    """Categories of the resemblances that put the report at its ``urgency`` (reviewer or above),
    each backed by its own sentence's neighbours (``votes``, by sentence as the resemblance quotes it);
    none at the reviewer tier when the rules' categories (``ruled``) include one that is no danger."""
    if urgency not in PAGED or (urgency == "possible-emergency" and any(c not in DANGER for c in ruled)):
        return []
    return [r.category for r in resemblances
            if r.label != "negative" and r.tier == urgency and r.probability >= limits.resemblance_vote
            and votes.get(r.sentence, {}).get(r.category, 0.0) >= limits.resemblance_support]


def voted_categories(votes: Sequence[dict[str, float]], urgency: str, named: bool,
                     limits: CategoryLimits = DEFAULT_LIMITS) -> list[str]:
    """Categories the report's sentences' neighbours (``votes``) agree on, strongest first
    (``named``: the rules or the model already named one, so only a clear vote adds another).

    The strongest category the vote gives counts as named too: each sentence votes on its own, so a
    report of four sentences collected one category per sentence at the lenient ``share`` (a
    parent's "I'm the lunch aide" voting "misconduct", "the coach heard and said nothing" beside the
    teasing it reports). A second category needs the clear vote a category beside the rules' needs;
    a danger category the vote gave a paged report does not count (it says nothing about which
    ordinary category the report is: "self-harm" beside the name-calling a pupil describes)."""
    support: dict[str, float] = {}
    for vote in votes:
        for category, share in vote.items():
            support[category] = max(support.get(category, 0.0), share)
    found = []
    for category, share in sorted(support.items(), key=lambda item: -item[1]):
        if category == OTHER or (category in DANGER and urgency not in PAGED):
            continue
        needed = limits.danger_share if category in DANGER else limits.specific_share if named else limits.share
        if share >= needed:
            found.append(category)
            # A danger the vote found says nothing about which ordinary category the report is.
            named = named or category not in DANGER
    return found


def assemble(rules: TriageDecision, resemblances: Sequence[Resemblance], sentences: Sequence[Sentence],
             hoods: Sequence[Neighbourhood], urgency: str, limits: CategoryLimits = DEFAULT_LIMITS) -> list[str]:
    """The report's categories (``explained_categories`` without the reasons)."""
    return explained_categories(rules, resemblances, sentences, hoods, urgency, limits)[0]


def explained_categories(rules: TriageDecision, resemblances: Sequence[Resemblance], sentences: Sequence[Sentence],
                         hoods: Sequence[Neighbourhood], urgency: str,
                         limits: CategoryLimits = DEFAULT_LIMITS) -> tuple[list[str], list[str]]:
    """The report's categories: the rules', then the deciding resemblances', then the vote's;
    a generic one only without its specific kind, "other" only when nothing more specific was found.
    With them, a reason for each category the vote alone gave (the rules' and the resemblances'
    explain themselves in the decision): the sentence and the reviewed example it resembles."""
    paged = urgency in PAGED
    votes = [sentence_vote(hood, limits, ordinary=not paged) for hood in hoods]
    by_sentence = {s.text[:300]: vote for s, vote in zip(sentences, votes, strict=True)}
    categories = without_generic([c for c in rules.categories if c != OTHER], RULED_SPECIFIC)
    for category in deciding_categories(resemblances, by_sentence, urgency, limits, ruled=list(categories)):
        if category != OTHER and category not in categories:
            categories.append(category)
    if not categories and not paged:
        # A sentence whose neighbours are mostly about a danger keeps its vote (which names no
        # danger category below the reviewer tier): a missed overdose is no "bullying".
        votes = [vote if sum(vote.get(c, 0.0) for c in DANGER) >= limits.danger_majority
                 else sentence_vote(hood, limits, danger=False) for vote, hood in zip(votes, hoods, strict=True)]
    voted = [c for c in voted_categories(votes, urgency, bool(categories), limits) if c not in categories]
    categories = without_generic(categories + voted)
    if urgency == "emergency" and any(c in DANGER for c in categories):
        categories = [c for c in categories if c != "cyberbullying"]
    reasons = [vote_reason(category, sentences, hoods, votes) for category in voted if category in categories]
    return categories or [OTHER], reasons


def vote_reason(category: str, sentences: Sequence[Sentence], hoods: Sequence[Neighbourhood],
                votes: Sequence[dict[str, float]]) -> str:
    """Why the vote gave ``category``: the sentence voting for it most and its nearest example of it."""
    share, index = max((vote.get(category, 0.0), i) for i, vote in enumerate(votes))
    example, score = next((e, s) for e, s in hoods[index].nearest_few if e.category == category)
    return (f'category "{category}": sentence "{sentences[index].text[:200]}" resembles reviewed example '
            f'"{example.sentence}" ({example.source}; similarity {score:.2f}, {share:.0%} of its neighbours\' '
            f"category vote)")


def without_generic(categories: Sequence[str],
                    specific: Mapping[str, tuple[str, ...]] = SPECIFIC) -> list[str]:
    """``categories`` without a generic one whose specific kind is among them (``specific``)."""
    return [c for c in categories if not any(kind in categories for kind in specific.get(c, ()))]
