"""triage: categories and urgency of a new report, judged outside the transaction, then applied.

The text judged is the report's subject and the reporter's own words plus the offending
messages' subjects and bodies: a friend's worried note and the threat itself both count. The
rules run first, then the multilingual model over each cleaned sentence (it may raise the
urgency; every raise names the reviewed example it rests on). The model runs in `prepare`; the
organisation's own reviewed examples are weighed in `process`, where the database is.
A case that another report joins keeps its most urgent verdict and the union of categories;
a staff override (`cases classify`) is never undone, but a new emergency still escalates.
"""

from __future__ import annotations

from stopit_mail.cases.detect.service import with_organisation_examples
from stopit_mail.cases.triage_apply import apply_report_triage
from stopit_mail.processing import triage_cache
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register
from stopit_mail.processing.rules import report_text, rules_for


@register
class Triage(Step):
    name = "triage"

    def prepare(self, ctx: Context) -> None:
        assert ctx.extraction is not None, "extract-evidence must run first"
        ctx.decision = triage_cache.assess(ctx.settings, report_text(ctx.extraction), subject=ctx.extraction.subject)

    def process(self, ctx: Context) -> None:
        assert ctx.case is not None and ctx.decision is not None, "open-case must run first"
        assert ctx.extraction is not None
        # The examples are staff's, never pending in this transaction: reading them need not flush
        # the case's changes first (they are flushed once, with the acknowledgement's row).
        with ctx.session.no_autoflush:
            decision = with_organisation_examples(ctx.session, ctx.settings, ctx.case.organisation, ctx.decision,
                                                  report_text(ctx.extraction), rules_for(ctx.settings),
                                                  subject=ctx.extraction.subject)
        apply_report_triage(ctx.session, ctx.case, decision)
