"""check-size: messages above the configured limit are kept but not parsed.

The SMTP listener refuses them with 552 before they are stored; this catches files imported
by hand, so a 2 GB mbox entry cannot exhaust memory in the parser.
"""

from stopit_mail.processing.context import Context, Quarantine
from stopit_mail.processing.registry import register


@register
class CheckSize:
    name = "check-size"

    def process(self, ctx: Context) -> None:
        limit = ctx.settings.limits.max_message_bytes
        if len(ctx.content) > limit:
            raise Quarantine(f"message is {len(ctx.content)} bytes, above limits.max_message_bytes ({limit})")
