"""acknowledge-page: a reply to a page stops the escalation (or decides a review).

A page comes from `stopit+ack-<code>@domain`, so a reply (from a mail client, or from an SMS
gateway) reaches us addressed to the code. A message with the code of an open escalation in
its subject or in its sender's own words counts too, for gateways that drop the plus address.

Only a person of that chain counts (`cases.escalation_replies`): a bounce is left to
file-bounce (it joins the case); an automatic answer (by its headers or its wording) and a
sender who is not a contact of the chain are recorded on the case and set aside, while paging
goes on. A message to an `ack-` alias that matches no escalation is recorded as
`ack-unmatched` and set aside; it must not open a case.
"""

from __future__ import annotations

from datetime import UTC, datetime

from stopit_mail import events
from stopit_mail.cases.escalation import ACK_PREFIX, codes_in_text, find_by_code
from stopit_mail.cases.escalation_replies import answer_by_mail, own_words
from stopit_mail.extract import mime
from stopit_mail.ingest.classify import alias_codes, automatic_reason, is_bounce
from stopit_mail.models import MessageKind
from stopit_mail.processing.context import Context
from stopit_mail.processing.registry import register


def ack_codes(ctx: Context) -> list[str]:
    """Codes of `<mailbox>+ack-<code>@` recipients of our own mailboxes (envelope, To, Cc)."""
    assert ctx.message is not None
    ours = [a for a in list(ctx.raw.rcpt_to or []) if ctx.settings.organisation_for(a) is not None]
    ours += [a for _n, a in mime.addresses(ctx.message, "To") + mime.addresses(ctx.message, "Cc")
             if ctx.settings.organisation_for(a) is not None]
    return [code[len(ACK_PREFIX):] for code in alias_codes(ours, ctx.message) if code.startswith(ACK_PREFIX)]


def _sender(ctx: Context) -> str:
    assert ctx.message is not None
    senders = mime.addresses(ctx.message, "From")
    return (senders[0][1] if senders else "") or (ctx.raw.mail_from or "") or "(unknown sender)"


@register
class AcknowledgePage:
    name = "acknowledge-page"

    def process(self, ctx: Context) -> None:
        assert ctx.message is not None, "parse-message must run first"
        if is_bounce(ctx.message, ctx.raw.mail_from):
            return
        codes = ack_codes(ctx)
        matched = [esc for esc in (find_by_code(ctx.session, code) for code in codes) if esc is not None]
        subject = mime.header(ctx.message, "Subject")
        limits = ctx.settings.limits
        body = mime.body_text(ctx.message, limits.max_nesting_depth, limits.max_parts, ctx.defects)
        if not matched and not codes:
            matched = codes_in_text(ctx.session, subject + "\n" + own_words(body))
        automatic = automatic_reason(ctx.message, ctx.raw.mail_from)
        if not matched:
            if codes and not automatic:
                ctx.raw.reason = "ack-unmatched: addressed to an acknowledgement code that matches no escalation"
                events.record(ctx.session, "ack-unmatched", None, raw_message_id=ctx.raw.id,
                              sender=_sender(ctx), codes=codes[:5])
                ctx.done = True
            return
        esc = matched[0]
        outcome = answer_by_mail(ctx.session, ctx.settings, esc, _sender(ctx), subject, body, automatic,
                                 datetime.now(UTC), raw_message_id=ctx.raw.id)
        ctx.raw.kind = MessageKind.AUTO_REPLY if outcome == "automatic" else MessageKind.REPLY
        ctx.raw.case_id = esc.case_id
        if outcome in ("automatic", "refused", "unclear"):
            ctx.raw.reason = f"answer to a page not acted on: {outcome}"
        ctx.done = True
