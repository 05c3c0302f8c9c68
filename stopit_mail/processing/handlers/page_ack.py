"""acknowledge-page: a reply to an emergency page stops the escalation.

A page comes from `stopit+ack-<code>@domain`, so a reply (from a mail client, or from an SMS
gateway) reaches us addressed to the code. A message that quotes the code of an open
escalation in its subject or body counts too, for gateways that drop the plus address.

Robots never acknowledge: a bounce is left to file-bounce (it joins the case), and an
out-of-office or other automatic answer to a page is recorded on the case and set aside,
while paging goes on. A message to an `ack-` alias that matches no escalation is recorded as
`ack-unmatched` and set aside; it must not open a case.
"""

from __future__ import annotations

from datetime import UTC, datetime

from stopit_mail import events
from stopit_mail.cases.escalation import ACK_PREFIX, acknowledge, codes_in_text, find_by_code
from stopit_mail.extract import mime
from stopit_mail.ingest.classify import alias_codes, automatic_reason, is_bounce
from stopit_mail.models import Escalation, EscalationStatus, MessageKind
from stopit_mail.processing.context import Context
from stopit_mail.processing.registry import register

_EXCERPT = 1000


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
        automatic = automatic_reason(ctx.message, ctx.raw.mail_from)
        if automatic:
            if matched:
                self._set_aside_automatic(ctx, matched[0], automatic)
            return
        subject = mime.header(ctx.message, "Subject")
        if not matched and not codes:
            limits = ctx.settings.limits
            text = subject + "\n" + mime.body_text(ctx.message, limits.max_nesting_depth, limits.max_parts,
                                                   ctx.defects)
            matched = codes_in_text(ctx.session, text)
        if not matched:
            if codes:
                ctx.raw.reason = "ack-unmatched: addressed to an acknowledgement code that matches no escalation"
                events.record(ctx.session, "ack-unmatched", None, raw_message_id=ctx.raw.id,
                              sender=_sender(ctx), codes=codes[:5])
                ctx.done = True
            return
        self._acknowledge(ctx, matched[0], subject)

    def _acknowledge(self, ctx: Context, esc: Escalation, subject: str) -> None:
        assert ctx.message is not None
        sender = _sender(ctx)
        ctx.raw.kind = MessageKind.REPLY
        ctx.raw.case_id = esc.case_id
        limits = ctx.settings.limits
        text = mime.body_text(ctx.message, limits.max_nesting_depth, limits.max_parts, ctx.defects)[:_EXCERPT]
        if esc.status is EscalationStatus.ACKNOWLEDGED:
            # A second person answering: their reply still belongs on the case timeline.
            events.record(ctx.session, "escalation-reply", esc.case_id, actor=sender[:120], automatic=False,
                          escalation_id=esc.id, raw_message_id=ctx.raw.id, subject=subject, text=text,
                          note=f"already acknowledged by {esc.acknowledged_by}")
        else:
            acknowledge(ctx.session, esc, by=sender, now=datetime.now(UTC), via="reply", settings=ctx.settings,
                        raw_message_id=ctx.raw.id, subject=subject, text=text)
        ctx.done = True

    def _set_aside_automatic(self, ctx: Context, esc: Escalation, reason: str) -> None:
        ctx.raw.kind = MessageKind.AUTO_REPLY
        ctx.raw.case_id = esc.case_id
        ctx.raw.reason = f"automatic answer to a page, not an acknowledgement ({reason})"
        events.record(ctx.session, "page-auto-reply-ignored", esc.case_id, escalation_id=esc.id,
                      raw_message_id=ctx.raw.id, sender=_sender(ctx), reason=reason)
        ctx.done = True
