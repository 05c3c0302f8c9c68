"""route: refer a triaged report to the offices configured for its categories (a side step)."""

from stopit_mail.cases.referrals import route
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register


@register
class Route(Step):
    name = "route"
    side_step = True

    def process(self, ctx: Context) -> None:
        assert ctx.case is not None, "open-case must run first"
        route(ctx.session, ctx.settings, ctx.case)
