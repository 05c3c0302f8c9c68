"""file-reply: a reply joins its case's timeline with its side (triage-reply reads it next).

The chain found the case and the alias the reply was filed by (reporter, alleged sender or
office). A reply from an anonymous reporter's side is recorded without their name or address
and its stored copy is sealed at rest.
"""

from stopit_mail.cases.anonymity import scrub_sealed_side
from stopit_mail.cases.replies import record_reply
from stopit_mail.cases.sealed_store import sealed_row
from stopit_mail.extract import mime
from stopit_mail.models import Case, CaseAlias
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register


@register
class FileReply(Step):
    name = "file-reply"

    def process(self, ctx: Context) -> None:
        assert ctx.arrival is not None and ctx.case_id is not None, "the chain finds the case"
        ctx.case = ctx.session.get(Case, ctx.case_id)
        assert ctx.case is not None
        alias = ctx.session.get(CaseAlias, ctx.reply_alias_id) if ctx.reply_alias_id is not None else None
        senders = mime.addresses(ctx.message, "From")
        sealed = record_reply(ctx.session, ctx.settings, ctx.case, alias, ctx.raw.id,
                              sender=senders[0][1] if senders else "", subject=ctx.subject, text=ctx.body)
        ctx.updates["case_id"] = ctx.case.id
        if sealed:
            ctx.updates["subject"] = scrub_sealed_side(ctx.session, ctx.settings, alias, ctx.subject)[:500] or None
            ctx.updates.update(sealed_row(ctx.session, ctx.settings, ctx.raw.content, ctx.raw.mail_from))
        # Not done yet: triage-reply reads the reply too.
