"""triage-reply: a reply on a case is triaged too; "I'm going to hurt myself" in a follow-up pages.

Replies are judged like reports (rules, then the model, then the organisation's own examples) and
may only ever raise the case's urgency.
"""

from __future__ import annotations

from datetime import UTC, datetime

from stopit_mail.cases.aliases import OFFICE
from stopit_mail.cases.detect.service import assess_text, with_organisation_examples
from stopit_mail.cases.referral_content import office_reply_words
from stopit_mail.cases.triage_apply import apply_reply_triage
from stopit_mail.models import CaseAlias
from stopit_mail.processing import triage_cache
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register
from stopit_mail.processing.rules import MAX_TRIAGE_CHARS, rules_for


@register
class TriageReply(Step):
    name = "triage-reply"

    def prepare(self, ctx: Context) -> None:
        ctx.decision = triage_cache.assess(ctx.settings, ctx.body[:MAX_TRIAGE_CHARS], subject=ctx.subject)

    def process(self, ctx: Context) -> None:
        assert ctx.case is not None and ctx.decision is not None, "file-reply must run first"
        decision, subject, text = ctx.decision, ctx.subject, ctx.body
        alias = ctx.session.get(CaseAlias, ctx.reply_alias_id) if ctx.reply_alias_id is not None else None
        if alias is not None and alias.side == OFFICE:
            # An office quotes our referral, the report's words included: only its own words count.
            subject, text = office_reply_words(ctx.subject, ctx.body)
            decision = assess_text(ctx.settings, text[:MAX_TRIAGE_CHARS], rules_for(ctx.settings), subject=subject)
        decision = with_organisation_examples(ctx.session, ctx.settings, ctx.case.organisation, decision,
                                              text[:MAX_TRIAGE_CHARS], rules_for(ctx.settings), subject=subject)
        apply_reply_triage(ctx.session, ctx.settings, ctx.case, decision, ctx.raw.id, datetime.now(UTC))
