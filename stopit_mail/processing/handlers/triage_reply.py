"""triage-reply: a reply on a case is triaged too; "I'm going to hurt myself" in a follow-up pages.

Replies are judged like reports (rules, then the model, then the organisation's own examples) and
may only ever raise the case's urgency.
"""

from __future__ import annotations

from datetime import UTC, datetime

from stopit_mail.cases.detect.service import assess_text, with_organisation_examples
from stopit_mail.cases.triage_apply import apply_reply_triage
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register
from stopit_mail.processing.rules import MAX_TRIAGE_CHARS, rules_for


@register
class TriageReply(Step):
    name = "triage-reply"

    def prepare(self, ctx: Context) -> None:
        ctx.decision = assess_text(ctx.settings, ctx.body[:MAX_TRIAGE_CHARS], rules_for(ctx.settings),
                                   subject=ctx.subject)

    def process(self, ctx: Context) -> None:
        assert ctx.case is not None and ctx.decision is not None, "file-reply must run first"
        decision = with_organisation_examples(ctx.session, ctx.settings, ctx.case.organisation, ctx.decision,
                                              ctx.body[:MAX_TRIAGE_CHARS], rules_for(ctx.settings),
                                              subject=ctx.subject)
        apply_reply_triage(ctx.session, ctx.settings, ctx.case, decision, ctx.raw.id, datetime.now(UTC))
