"""file-reply: a reply joins its case's timeline (triage-reply reads it next)."""

from stopit_mail.cases.replies import record_reply
from stopit_mail.extract import mime
from stopit_mail.models import Case
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register


@register
class FileReply(Step):
    name = "file-reply"

    def process(self, ctx: Context) -> None:
        assert ctx.arrival is not None and ctx.case_id is not None, "the chain finds the case"
        ctx.case = ctx.session.get(Case, ctx.case_id)
        assert ctx.case is not None
        senders = mime.addresses(ctx.message, "From")
        sealed = record_reply(ctx.session, ctx.case, ctx.arrival.alias_codes, ctx.raw.id,
                              sender=senders[0][1] if senders else "", subject=ctx.subject, text=ctx.body)
        ctx.updates["case_id"] = ctx.case.id
        if sealed and ctx.raw.mail_from:
            ctx.updates["mail_from"] = "[sealed]"
