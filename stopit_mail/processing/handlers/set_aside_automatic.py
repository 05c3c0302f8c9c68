"""set-aside-automatic: automatic messages are recorded and set aside, never answered (RFC 3834)."""

from stopit_mail import events
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register


@register
class SetAsideAutomatic(Step):
    name = "set-aside-automatic"

    def process(self, ctx: Context) -> None:
        assert ctx.arrival is not None
        events.record(ctx.session, "automatic-set-aside", None, raw_message_id=ctx.raw.id,
                      reason=ctx.arrival.reason)
