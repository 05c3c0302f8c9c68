"""file-bounce: a delivery status notification joins the case of the message that bounced.

A bounce of mail we sent an anonymous reporter names them: its stored copy is sealed at rest.
"""

from stopit_mail.cases.replies import file_bounce
from stopit_mail.cases.sealed_store import seal_if_sealed_side
from stopit_mail.extract.bounces import bounced_message_ids
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register


@register
class FileBounce(Step):
    name = "file-bounce"

    def prepare(self, ctx: Context) -> None:
        ctx.bounced_ids = bounced_message_ids(ctx.message, ctx.defects)

    def process(self, ctx: Context) -> None:
        case_id = file_bounce(ctx.session, ctx.bounced_ids, ctx.raw.id)
        ctx.updates.update(seal_if_sealed_side(ctx.session, ctx.settings, ctx.raw.content, ctx.raw.mail_from,
                                               [], ctx.bounced_ids))
        if case_id is not None:
            ctx.updates["case_id"] = case_id
