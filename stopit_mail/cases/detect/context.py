"""Report-level context: what the report as a whole says about the danger it mentions.

A sentence may read like an emergency ("okula bomba ihbarı gelmişti", "thank you for everything")
while the report around it says the danger is past and handled ("...and the police dealt with it,
he is doing much better now"), or that it is schoolwork, a story, a debate, a club's game, or the
writer letting off steam. The model judges sentences and a rule's ``hold`` cue must sit near its
hit; neither sees the whole report. This does: a report that would page the chain at once, and
carries such a cue anywhere in its cleaned text, goes to the on-call reviewer first
(possible-emergency: paged within minutes, the chain if nobody answers), never lower.

A danger now or soon anywhere in the report ("tonight", "and now he's doing it again", "not
answering", "this is not a joke") cancels the hold. The cues are phrases per language in
``report_context.toml``, checked by the tests; the decision quotes the words that held it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from stopit_mail.cases.detect.scoring import Neighbourhood
from stopit_mail.cases.detect.sentences import Sentence
from stopit_mail.cases.textnorm import NormalisedText, PhraseError, compile_pattern, normalise
from stopit_mail.cases.triage_decision import Resemblance, RuleMatch

RESOURCE = "report_context.toml"


class ReportContextError(ValueError):
    """The cue file is malformed (a packaging mistake, caught by the tests)."""


@dataclass(frozen=True)
class Cue:
    """What held a report: the kind of cue, what it means, and the report's own words."""

    kind: str
    why: str
    words: str

    def note(self) -> str:
        return (f'the report says "{self.words}" ({self.why}) and nothing of a danger now: '
                f"the reviewer confirms before the chain is paged")


@dataclass(frozen=True)
class ReportContext:
    """Compiled cues: one regex per kind (with what it means) and one for a danger now."""

    kinds: tuple[tuple[str, str, re.Pattern[str]], ...]
    present: re.Pattern[str]
    # The writer saying outright that nobody is in danger ("no one is in danger", "I'm not going to
    # do anything stupid"): ``ordinary_as_a_whole`` reads it; it holds nothing (None: no phrases).
    no_danger: re.Pattern[str] | None = None

    def cue(self, texts: Sequence[str], elsewhere: Sequence[str] = ()) -> Cue | None:
        """The first cue in ``texts`` that no word of the present there or ``elsewhere`` cancels
        (None: no hold).

        A cue inside words of the present is no cue ("this is *not a joke*"); words of the present
        sharing words with a cue are the cue's own ("she is fine *now*", "he is not going to *kill
        himself*") and cancel nothing."""
        if not texts or any(self.present.search(normalise(text).text) for text in elsewhere):
            return None
        norm = normalise("\n".join(texts))
        found = [(kind, why, hit.span()) for kind, why, regex in self.kinds for hit in regex.finditer(norm.text)]
        now = [hit.span() for hit in self.present.finditer(norm.text)]
        holds = [(kind, why, span) for kind, why, span in found if not any(_inside(span, p) for p in now)]
        if not holds or any(not any(_overlap(p, span) for _, _, span in holds) for p in now):
            return None
        kind, why, span = min(holds, key=lambda h: h[2][0])
        return Cue(kind, why, _original(norm, span))


    def says_no_danger(self, texts: Sequence[str]) -> str:
        """The original words of the first statement that nobody is in danger in ``texts`` ("" if none)."""
        if self.no_danger is None:
            return ""
        for text in texts:
            norm = normalise(text)
            hit = self.no_danger.search(norm.text)
            if hit:
                return _original(norm, hit.span())
        return ""

    def mentions_present(self, texts: Sequence[str]) -> bool:
        """Whether any of ``texts`` has a word of a danger now or soon ("tonight", "not answering")."""
        return any(self.present.search(normalise(text).text) for text in texts)


def _inside(inner: tuple[int, int], outer: tuple[int, int]) -> bool:
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def _overlap(one: tuple[int, int], other: tuple[int, int]) -> bool:
    return one[0] < other[1] and other[0] < one[1]


def _original(norm: NormalisedText, span: tuple[int, int]) -> str:
    start, end = norm.original_span(*span)
    return norm.original[start:end]


def hold_for_reviewer(urgency: str, sentences: Sequence[Sentence], hoods: Sequence[Neighbourhood],
                      resemblances: Sequence[Resemblance], matches: Sequence[RuleMatch],
                      context: ReportContext | None = None) -> tuple[str, list[str]]:
    """``urgency``, or possible-emergency with a note when an emergency's report carries a cue.

    Only the message of the report that holds the emergency can hold it: a school newsletter
    forwarded below a report ("drama club rehearsal", "is there a policy") says nothing about the
    report above it. Words of the present count from anywhere in the report. A sentence that is
    word for word a reviewed emergency (the organisation's own, or the shipped bank's) keeps the
    page: a person already judged those words an emergency.
    """
    if urgency != "emergency" or any(h.same_wording and h.nearest.label == "emergency" for h in hoods):
        return urgency, []
    parts = _emergency_parts(sentences, resemblances, matches)
    found = (context or shipped_report_context()).cue(
        [s.text for s in sentences if s.part in parts], [s.text for s in sentences if s.part not in parts])
    if found is None:
        return urgency, []
    return "possible-emergency", [found.note()]


# The report read as a whole (``ordinary_as_a_whole``): its text, and its neighbourhood among the
# reviewed examples (None when it could not be scored: nothing is lowered then).
WholeReading = Callable[[frozenset[int]], "tuple[str, Neighbourhood] | None"]


def ordinary_as_a_whole(urgency: str, rules_urgency: str, sentences: Sequence[Sentence], hoods: Sequence[Neighbourhood],
                        parts: frozenset[int], whole: WholeReading | None, vote: float | None, head: float,
                        context: ReportContext | None = None) -> tuple[str, list[str]]:
    """*urgent* for the model's own reviewer or confident verdict on a report that, read as a whole
    (the messages of the report holding the raised sentences, ``parts``), resembles no reviewed
    emergency or concern: an emergency and concern vote under ``vote`` and the bank's head under
    ``head``, with no word of a danger now or soon anywhere in those messages.

    A person reading "I lost my water bottle in the library on Wednesday, it is blue. If someone finds
    it, please tell me" sees a lost bottle; e5 read sentence by sentence put the first at 0.88 of "it's
    done now, I swallowed what was left in the cabinet" (sentences about a place and an object). The
    whole report is one more vector, scored like a sentence; it only ever lowers what the model alone
    raised, never a rule's verdict, a reviewed example's own wording or an organisation's example.

    A reviewer verdict (never a confident one) in a report whose writer says outright that nobody is
    in danger ("no one is in danger, I just want it deleted", "I'm not going to do anything stupid, I
    just want it to stop": ``[no-danger]`` in ``report_context.toml``) is *urgent* too, whatever the
    whole report's vote: the model read the feelings in a bullying report as a concern, and the
    writer answered the question a reviewer would ask. A person still reads it within the hour.
    """
    if urgency not in ("emergency", "possible-emergency") \
            or rules_urgency in ("emergency", "possible-emergency") or not parts:
        return urgency, []
    if any(h.same_wording and h.nearest.label != "negative" for h in hoods) \
            or any(h.by_label[label][0].source != "shipped" for h in hoods for label in ("emergency", "concern")
                   if label in h.by_label):
        return urgency, []
    context = context or shipped_report_context()
    said = context.says_no_danger([s.text for s in sentences if s.part in parts])
    if said and urgency == "possible-emergency":
        return "urgent", [f'the report says "{said}" (nobody in danger, in the writer\'s words) and the model '
                          f"alone raised it: urgent, a person reads it soon"]
    if vote is None or whole is None:
        return urgency, []
    read = whole(parts)
    if read is None:
        return urgency, []
    text, hood = read
    share = hood.probability("emergency") + hood.probability("concern")
    if share >= vote or hood.head is None or hood.head >= head \
            or context.mentions_present([text]):
        return urgency, []
    return "urgent", [f"read as a whole the report resembles no reviewed emergency or concern (their vote "
                      f"{share:.0%}, the head's log-odds {hood.head:+.1f}) and says nothing of a danger now: "
                      f"urgent, a person reads it soon"]


def _emergency_parts(sentences: Sequence[Sentence], resemblances: Sequence[Resemblance],
                     matches: Sequence[RuleMatch]) -> set[int]:
    """The parts (messages) of the report with a sentence at the emergency tier or a rule's
    emergency hit (none when the hit is in text the model does not read: nothing is held then)."""
    model = {r.sentence for r in resemblances if r.tier == "emergency"}
    words = [" ".join(m.matched_text.casefold().split()) for m in matches if m.urgency == "emergency"]
    parts = set()
    for sentence in sentences:
        folded = " ".join(sentence.text.casefold().split())
        if sentence.text[:300] in model or any(w and w in folded for w in words):
            parts.add(sentence.part)
    return parts


def parse_report_context(data: Any, where: str) -> ReportContext:
    """Validate and compile the cue file: ``joined`` languages, ``[kinds.*]`` and ``[present]``."""
    if not isinstance(data, dict) or not {"joined", "kinds", "present"} <= set(data) \
            or not set(data) <= {"joined", "kinds", "present", "no-danger"}:
        raise ReportContextError(f"{where}: expected exactly the keys joined, kinds and present (and optionally no-danger)")
    joined = data["joined"]
    if not isinstance(joined, list) or not all(isinstance(j, str) for j in joined):
        raise ReportContextError(f"{where}: joined must be a list of language codes")
    kinds = data["kinds"]
    if not isinstance(kinds, dict) or not kinds:
        raise ReportContextError(f"{where}: [kinds] must hold at least one kind of cue")
    compiled = []
    for kind, table in kinds.items():
        if not isinstance(table, dict) or not isinstance(table.get("why"), str) or not table["why"].strip():
            raise ReportContextError(f"{where}: [kinds.{kind}] needs a why (what staff read)")
        phrases = {lang: words for lang, words in table.items() if lang != "why"}
        compiled.append((kind, table["why"], _compile(phrases, frozenset(joined), f"{where} [kinds.{kind}]")))
    no_danger = _compile(data["no-danger"], frozenset(joined), f"{where} [no-danger]") if "no-danger" in data else None
    return ReportContext(tuple(compiled), _compile(data["present"], frozenset(joined), f"{where} [present]"),
                         no_danger)


def _compile(by_language: Any, joined: frozenset[str], where: str) -> re.Pattern[str]:
    if not isinstance(by_language, dict) or not by_language:
        raise ReportContextError(f"{where}: expected phrases per language")
    sources = []
    for lang, phrases in by_language.items():
        if not isinstance(phrases, list) or not phrases or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise ReportContextError(f"{where}: {lang} must be a non-empty list of phrases")
        for phrase in phrases:
            try:
                sources.append(_joined(phrase) if lang in joined else compile_pattern(phrase).pattern)
            except PhraseError as exc:
                raise ReportContextError(f"{where}: {lang} phrase {phrase!r}: {exc}") from exc
    return re.compile("|".join(f"(?:{s})" for s in sources))


def _joined(phrase: str) -> str:
    """A phrase found anywhere, even inside a word, with any spacing (or none) between its letters:
    Chinese and Japanese write no spaces, Korean spaces vary, Arabic-script words take prefixes."""
    letters = [c for c in normalise(phrase).text if not c.isspace()]
    if not letters:
        raise PhraseError("contains no letters to match")
    return r"\s*".join(re.escape(c) for c in letters)


@lru_cache(maxsize=1)
def shipped_report_context() -> ReportContext:
    """The shipped cue file, parsed once per process."""
    source = resources.files("stopit_mail.cases").joinpath(RESOURCE)
    return parse_report_context(tomllib.loads(source.read_text(encoding="utf-8")), RESOURCE)
