"""parse-message: parse the stored bytes leniently and note the headers staff search by."""

from stopit_mail.cases.dedup import normalise_message_id
from stopit_mail.extract import mime
from stopit_mail.processing.context import Context
from stopit_mail.processing.registry import register


@register
class ParseMessage:
    name = "parse-message"

    def process(self, ctx: Context) -> None:
        parsed = mime.parse_bytes(ctx.content)
        ctx.message = parsed.message
        ctx.defects.extend(parsed.defects)
        message_id = mime.header(parsed.message, "Message-ID")
        ctx.raw.message_id = f"<{normalise_message_id(message_id)}>" if message_id else None
        ctx.raw.subject = mime.header(parsed.message, "Subject")[:500] or None
