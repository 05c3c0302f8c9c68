"""escalate-emergency: a new report triaged as an emergency starts paging at once.

A *possible* emergency pages the on-call reviewer first (`escalation_review.start_review`),
who confirms or dismisses it; silence pages the chain when the window passes.

Runs after triage, in the message's transaction, so the first page is queued together with the
case: if the case commits, the page is on its way; if not, neither exists and the message is
processed again. The worker's `escalation_tick` pages the rest of the chain.
"""

from __future__ import annotations

from datetime import UTC, datetime

from stopit_mail.cases.escalation_review import escalate_for_urgency
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register


@register
class EscalateEmergency(Step):
    name = "escalate-emergency"

    def process(self, ctx: Context) -> None:
        assert ctx.case is not None, "open-case must run first"
        # The one place real time enters escalation; everything below takes `now`.
        escalate_for_urgency(ctx.session, ctx.settings, ctx.case, datetime.now(UTC))
