"""acknowledge: queue one acknowledgement per new report, unless it could start a loop.

RFC 3834 rules: automatic messages never reach this handler (they have their own pipeline). Here we also refuse daemon senders, our own addresses, and any sender who already
had `acks_per_sender_per_hour` acknowledgements in the last hour. The acknowledgement comes
from the case alias, so the reporter's reply threads back into the case, and is sent with a
null envelope sender, so it can never bounce back into the mailbox as a new report.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stopit_mail import events
from stopit_mail.cases.acknowledgement import (
    forwarding_client,
    needs_full_headers,
    render_acknowledgement,
    report_language,
)
from stopit_mail.cases.codes import case_alias, format_code
from stopit_mail.cases.notices import template_dirs
from stopit_mail.outbound.compose import Draft
from stopit_mail.outbound.outbox import URGENT_DELIVERY, enqueue, sent_to_since
from stopit_mail.outbound.render import make_environment
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register
from stopit_mail.sealing import IdentityKeyError, recipient_key, sealed_recipient

_DAEMONS = ("mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply")


def refusal(ctx: Context, address: str) -> str | None:
    """Why this report must not be acknowledged, or None."""
    if ctx.raw.no_ack:
        return "historical import (stopit ingest --no-ack)"
    if not address or "@" not in address:
        return "no usable sender address"
    local, _, domain = address.partition("@")
    if local.split("+")[0] in _DAEMONS:
        return f"daemon sender {address}"
    if ctx.settings.organisation_for(address) is not None:
        return f"our own address {address}"
    since = datetime.now(UTC) - timedelta(hours=1)
    limit = ctx.settings.outbound.acks_per_sender_per_hour
    if sent_to_since(ctx.session, recipient_key(ctx.settings, address), "acknowledgement", since) >= limit:
        return f"rate limit: {limit} acknowledgements to {address} in the last hour"
    return None


@register
class Acknowledge(Step):
    """A side step: a failure to queue the acknowledgement never takes the case down with it."""

    name = "acknowledge"
    side_step = True

    def process(self, ctx: Context) -> None:
        assert ctx.case is not None, "open-case must run first"
        assert ctx.extraction is not None and ctx.reporter is not None
        address = ctx.reporter.address
        try:
            reason = refusal(ctx, address)
            recipient = sealed_recipient(ctx.settings, address) if ctx.sealed_identity else address
        except IdentityKeyError as exc:
            # A side step: the case and its page must not go down with it.
            reason = f"identity key unavailable: {exc}"
        if reason:
            events.record(ctx.session, "acknowledgement-skipped", ctx.case.id, reason=reason)
            return
        mailbox = ctx.organisation.mailboxes[0]
        alias = case_alias(ctx.case.reporter_code, mailbox)
        language = report_language(ctx.extraction.wrapper_text)
        ctx.case.language = ctx.case.language or language
        rendered = render_acknowledgement(
            make_environment(template_dirs(ctx.settings, ctx.organisation)), language,
            forwarding_client(ctx.message, ctx.extraction.client_hints),
            organisation=ctx.organisation.name, case_number=ctx.case.number,
            reporter_code=format_code(ctx.case.reporter_code), case_address=alias,
            emergency_numbers=ctx.organisation.emergency_numbers, needs_headers=needs_full_headers(ctx.extraction),
            urgency=ctx.case.urgency,
        )
        original_id = ctx.extraction.message_id
        draft = Draft(
            from_address=alias, from_name=f"{ctx.organisation.name} stopit",
            to=[recipient],
            subject=rendered.subject, body=rendered.body, reply_to=alias,
            in_reply_to=original_id, references=[original_id] if original_id else [],
        )
        # An emergency's acknowledgement ("call now") goes out before the backlog, like a page.
        enqueue(ctx.session, draft, "acknowledgement", f"ack:{ctx.raw.id}", ctx.case.id, envelope_from="",
                recipient_key=recipient_key(ctx.settings, address),
                priority=URGENT_DELIVERY if ctx.case.urgency == "emergency" else 0)
