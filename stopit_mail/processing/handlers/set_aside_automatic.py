"""set-aside-automatic: automatic messages are recorded and set aside, never answered (RFC 3834).

An out-of-office answer to an anonymous reporter's alias names them: its stored copy is sealed.
"""

from stopit_mail import events
from stopit_mail.cases.sealed_store import seal_if_sealed_side
from stopit_mail.extract import mime
from stopit_mail.ingest.classify import MESSAGE_ID_RE, alias_codes
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register


@register
class SetAsideAutomatic(Step):
    name = "set-aside-automatic"

    def process(self, ctx: Context) -> None:
        assert ctx.arrival is not None
        ctx.updates.update(seal_if_sealed_side(
            ctx.session, ctx.settings, ctx.raw.content, ctx.raw.mail_from, alias_codes(ctx.raw.rcpt_to, ctx.message),
            MESSAGE_ID_RE.findall(mime.header(ctx.message, "In-Reply-To"))))
        events.record(ctx.session, "automatic-set-aside", None, raw_message_id=ctx.raw.id,
                      reason=ctx.arrival.reason)
