"""triage and route: categories and urgency from configured rules, then routing to offices.

The text judged is the report's subject and the reporter's own words plus the offending
messages' subjects and bodies: a friend's worried note and the threat itself both count.
A case that another report joins keeps its most urgent verdict and the union of categories;
a staff override (`cases classify`) is never undone, but a new emergency still escalates.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache

from stopit_mail import events
from stopit_mail.cases.escalation import start_escalation
from stopit_mail.cases.referrals import route
from stopit_mail.cases.triage import URGENCIES, CompiledRules, compile_rules, load_rules, triage
from stopit_mail.extract import mime
from stopit_mail.models import CaseStatus, MessageKind
from stopit_mail.processing.context import Context
from stopit_mail.processing.registry import register

MAX_TRIAGE_CHARS = 200_000


@lru_cache(maxsize=8)
def _rules(extra_key: str, disabled: tuple[str, ...]) -> CompiledRules:
    return compile_rules(load_rules(json.loads(extra_key), disabled=disabled))


def rules_for(ctx: Context) -> CompiledRules:
    """The compiled rule set of this configuration (compiled once per process)."""
    casework = ctx.settings.casework
    return _rules(json.dumps(casework.triage_rules, sort_keys=True), tuple(casework.disabled_triage_rules))


def report_text(ctx: Context) -> str:
    """What triage reads: the reporter's words and the evidence messages."""
    assert ctx.extraction is not None
    parts = [ctx.extraction.wrapper_text]
    for item in ctx.extraction.items:
        if item.is_message:
            parts.extend([item.subject or "", item.body_text or ""])
    return "\n\n".join(p for p in parts if p)[:MAX_TRIAGE_CHARS]


@register
class Triage:
    name = "triage"

    def process(self, ctx: Context) -> None:
        if ctx.case is None or ctx.arrival is None or ctx.arrival.kind is not MessageKind.REPORT:
            return
        assert ctx.extraction is not None
        decision = triage(report_text(ctx), rules_for(ctx), subject=ctx.extraction.subject)
        case = ctx.case
        previous = case.triage or {}
        urgency = min(decision.urgency, case.urgency if previous else "routine", key=URGENCIES.index)
        if previous.get("override") and urgency != "emergency":
            events.record(ctx.session, "triage-kept-override", case.id, automatic_decision=decision.to_dict())
            return
        categories = sorted(set(case.categories or []) | set(decision.categories)) if previous else decision.categories
        if len(categories) > 1 and "other" in categories:
            categories.remove("other")
        case.urgency, case.categories = urgency, categories
        case.triage = {**previous, "automatic": decision.to_dict(), "explanation": decision.explanation()}
        if case.status is CaseStatus.NEW:
            case.status = CaseStatus.TRIAGED
        events.record(ctx.session, "triaged", case.id, urgency=urgency, categories=categories,
                      explanation=decision.explanation()[:2000])


@register
class TriageReply:
    """A reply on a case is triaged too: "I'm going to hurt myself" in a follow-up must page."""

    name = "triage-reply"

    def process(self, ctx: Context) -> None:
        if ctx.case is None or ctx.arrival is None or ctx.arrival.kind is not MessageKind.REPLY:
            return
        assert ctx.message is not None
        decision = triage(ctx.reply_text[:MAX_TRIAGE_CHARS], rules_for(ctx), subject=mime.header(ctx.message, "Subject"))
        case = ctx.case
        ctx.done = True
        if URGENCIES.index(decision.urgency) >= URGENCIES.index(case.urgency) and decision.urgency != "emergency":
            return
        if URGENCIES.index(decision.urgency) < URGENCIES.index(case.urgency):
            case.urgency = decision.urgency
            case.categories = sorted(set(case.categories or []) - {"other"} | set(decision.categories))
            events.record(ctx.session, "triaged", case.id, urgency=case.urgency, categories=case.categories,
                          source="reply", raw_message_id=ctx.raw.id, explanation=decision.explanation()[:2000])
        if decision.urgency == "emergency":
            start_escalation(ctx.session, ctx.settings, case, datetime.now(UTC))


@register
class Route:
    name = "route"

    def process(self, ctx: Context) -> None:
        if ctx.case is None or ctx.arrival is None or ctx.arrival.kind is not MessageKind.REPORT:
            return
        route(ctx.session, ctx.settings, ctx.case)
