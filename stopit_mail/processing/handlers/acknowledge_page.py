"""acknowledge-page: a reply to an emergency page stops the escalation.

A page comes from `stopit+ack-<code>@domain`, so a reply (from a mail client, or from an SMS
gateway) reaches us addressed to the code; the chain also accepts a message that quotes the
code of an open escalation, for gateways that drop the plus address.

Robots never acknowledge: an out-of-office or other automatic answer to a page is recorded on
the case and set aside, while paging goes on. A message to an `ack-` alias that matches no
escalation is recorded as `ack-unmatched` and set aside; it must not open a case.
"""

from __future__ import annotations

from datetime import UTC, datetime

from stopit_mail import events
from stopit_mail.cases.escalation import acknowledge
from stopit_mail.extract import mime
from stopit_mail.models import Escalation, EscalationStatus, MessageKind
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register

_EXCERPT = 1000


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
        elif ctx.automatic:
            self._set_aside_automatic(ctx, matched[0], ctx.automatic)
        else:
            self._acknowledge(ctx, matched[0])

    def _acknowledge(self, ctx: Context, esc: Escalation) -> None:
        sender = _sender(ctx)
        ctx.updates["case_id"] = esc.case_id
        text = ctx.body[:_EXCERPT]
        if esc.status is EscalationStatus.ACKNOWLEDGED:
            # A second person answering: their reply still belongs on the case timeline.
            events.record(ctx.session, "escalation-reply", esc.case_id, actor=sender[:120], automatic=False,
                          escalation_id=esc.id, raw_message_id=ctx.raw.id, subject=ctx.subject, text=text,
                          note=f"already acknowledged by {esc.acknowledged_by}")
        else:
            acknowledge(ctx.session, esc, by=sender, now=datetime.now(UTC), via="reply", settings=ctx.settings,
                        raw_message_id=ctx.raw.id, subject=ctx.subject, text=text)

    def _set_aside_automatic(self, ctx: Context, esc: Escalation, reason: str) -> None:
        ctx.updates["kind"] = MessageKind.AUTO_REPLY
        ctx.updates["case_id"] = esc.case_id
        ctx.updates["reason"] = f"automatic answer to a page, not an acknowledgement ({reason})"
        events.record(ctx.session, "page-auto-reply-ignored", esc.case_id, escalation_id=esc.id,
                      raw_message_id=ctx.raw.id, sender=_sender(ctx), reason=reason)
