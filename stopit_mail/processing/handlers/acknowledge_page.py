"""acknowledge-page: a reply to a page stops the escalation (or decides a review).

A page comes from `stopit+ack-<code>@domain`, so a reply (from a mail client, or from an SMS
gateway) reaches us addressed to the code; the chain also accepts a message with the code of an
open escalation in its subject or in its sender's own words, for gateways that drop the plus
address.

Only a person of that chain counts (`cases.escalation_replies.answer_by_mail` decides): an
automatic answer (by its headers or its wording) and a sender who is not a contact of the chain
are recorded on the case and set aside, while paging goes on. A message to an `ack-` alias that
matches no escalation is recorded as `ack-unmatched` and set aside; it must not open a case.
"""

from __future__ import annotations

from datetime import UTC, datetime

from stopit_mail import events
from stopit_mail.cases.escalation_replies import answer_by_mail
from stopit_mail.extract import mime
from stopit_mail.models import Escalation, MessageKind
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register


def _sender(ctx: Context) -> str:
    senders = mime.addresses(ctx.message, "From")
    return (senders[0][1] if senders else "") or (ctx.raw.mail_from or "") or "(unknown sender)"


@register
class AcknowledgePage(Step):
    name = "acknowledge-page"

    def process(self, ctx: Context) -> None:
        matched = [esc for esc in (ctx.session.get(Escalation, i) for i in ctx.escalation_ids) if esc is not None]
        if not matched:
            ctx.updates["kind"] = MessageKind.UNKNOWN
            ctx.updates["reason"] = "ack-unmatched: addressed to an acknowledgement code that matches no escalation"
            events.record(ctx.session, "ack-unmatched", None, raw_message_id=ctx.raw.id,
                          sender=_sender(ctx), codes=ctx.ack_codes[:5])
            return
        esc = matched[0]
        outcome = answer_by_mail(ctx.session, ctx.settings, esc, _sender(ctx), ctx.subject, ctx.body, ctx.automatic,
                                 datetime.now(UTC), raw_message_id=ctx.raw.id)
        ctx.updates["kind"] = MessageKind.AUTO_REPLY if outcome == "automatic" else MessageKind.REPLY
        ctx.updates["case_id"] = esc.case_id
        if outcome in ("automatic", "refused", "unclear"):
            ctx.updates["reason"] = f"answer to a page not acted on: {outcome}"
