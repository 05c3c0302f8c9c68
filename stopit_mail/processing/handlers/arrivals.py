"""file-reply, file-bounce, set-aside-automatic: messages that do not open cases.

Replies join their case's timeline. Bounces are attached to the case of the message that
bounced when it can be found. Automatic messages are recorded and set aside: never answered
(RFC 3834), never a case.
"""

from email.message import Message

from stopit_mail import events
from stopit_mail.cases.anonymity import scrub_sealed_side, side_is_sealed
from stopit_mail.cases.sealed_store import scrub_log_after_commit, seal_if_sealed_side, seal_stored_message
from stopit_mail.cases.service import case_of_sent_message
from stopit_mail.extract import mime
from stopit_mail.ingest.classify import MESSAGE_ID_RE, alias_codes
from stopit_mail.models import MessageKind
from stopit_mail.processing.context import Context
from stopit_mail.processing.registry import register


def _reply_text(ctx: Context) -> str:
    """The reply's readable body, decoded once and kept on the context for triage-reply."""
    assert ctx.message is not None
    limits = ctx.settings.limits
    ctx.reply_text = mime.body_text(ctx.message, limits.max_nesting_depth, limits.max_parts, ctx.defects)
    return ctx.reply_text


@register
class FileReply:
    name = "file-reply"

    def process(self, ctx: Context) -> None:
        if ctx.arrival is None or ctx.arrival.kind is not MessageKind.REPLY or ctx.case is None:
            return
        assert ctx.message is not None and ctx.arrival is not None
        senders = mime.addresses(ctx.message, "From")
        alias = ctx.reply_alias
        side = alias.side if alias is not None else "unknown"
        sender = senders[0][1] if senders else ""
        sealed = side_is_sealed(ctx.session, alias)
        if sealed:
            # Only the reporter holds their alias; keep their address out of the record.
            sender = "(anonymous reporter)"
            ctx.raw.mail_from = "[sealed]" if ctx.raw.mail_from else ctx.raw.mail_from
            ctx.raw.subject = scrub_sealed_side(ctx.session, ctx.settings, alias, ctx.raw.subject or "")
        ctx.raw.case_id = ctx.case.id
        events.record(
            ctx.session, "reply-received", ctx.case.id, raw_message_id=ctx.raw.id, side=side,
            report_id=alias.report_id if alias is not None else None,
            office=alias.office if alias is not None else None,
            sender=sender, subject=scrub_sealed_side(ctx.session, ctx.settings, alias, mime.header(ctx.message, "Subject")),
            text=scrub_sealed_side(ctx.session, ctx.settings, alias, _reply_text(ctx))[:2000],
        )
        if sealed:
            ctx.raw.peer = None
            seal_stored_message(ctx.settings, ctx.raw)
            scrub_log_after_commit(ctx.session)
        # Not done yet: triage-reply reads the reply too, then ends the pipeline.


def bounced_message_ids(ctx: Context) -> list[str]:
    """Message-IDs of the returned message (or returned headers) inside a DSN."""
    assert ctx.message is not None
    ids: list[str] = []
    for walked in mime.walk(ctx.message, 4, 50, ctx.defects):
        part = walked.part
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            returned = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(returned, Message):
                ids.extend(MESSAGE_ID_RE.findall(mime.header(returned, "Message-ID")))
        elif content_type in ("text/rfc822-headers", "message/global-headers"):
            returned_headers = mime.parse_bytes(mime.part_bytes(part)).message
            ids.extend(MESSAGE_ID_RE.findall(mime.header(returned_headers, "Message-ID")))
    return ids


@register
class FileBounce:
    name = "file-bounce"

    def process(self, ctx: Context) -> None:
        if ctx.arrival is None or ctx.arrival.kind is not MessageKind.BOUNCE:
            return
        ids = bounced_message_ids(ctx)
        case = case_of_sent_message(ctx.session, ids)
        seal_if_sealed_side(ctx.session, ctx.settings, ctx.raw, [], ids)
        if case is not None:
            ctx.raw.case_id = case.id
        events.record(ctx.session, "bounce-received", case.id if case else None,
                      raw_message_id=ctx.raw.id, bounced_ids=ids[:5])
        ctx.done = True


@register
class SetAsideAutomatic:
    name = "set-aside-automatic"

    def process(self, ctx: Context) -> None:
        if ctx.arrival is None or ctx.arrival.kind is not MessageKind.AUTO_REPLY:
            return
        assert ctx.message is not None
        seal_if_sealed_side(ctx.session, ctx.settings, ctx.raw, alias_codes(list(ctx.raw.rcpt_to or []), ctx.message),
                            MESSAGE_ID_RE.findall(mime.header(ctx.message, "In-Reply-To")))
        events.record(ctx.session, "automatic-set-aside", None, raw_message_id=ctx.raw.id,
                      reason=ctx.arrival.reason)
        ctx.done = True
