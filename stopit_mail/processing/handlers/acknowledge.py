"""acknowledge: queue one acknowledgement per new report, unless it could start a loop.

RFC 3834 rules: automatic messages never reach this handler (they have their own pipeline);
`outbound.ack_limits` refuses daemons, our own addresses and senders, domains or cases over
their hourly limits. The acknowledgement comes from the report's own alias (never another
reporter's), so the reporter's reply threads back into their report, and is sent with a null
envelope sender, so it can never bounce back into the mailbox as a new report. A report whose
sender wrote the evidence themselves gets no acknowledgement: no code of the case reaches the
alleged sender. An emergency's acknowledgement ("call now") goes out before the backlog.
"""

from __future__ import annotations

from stopit_mail import events
from stopit_mail.cases.acknowledgement import (
    forwarding_client,
    needs_full_headers,
    render_acknowledgement,
    report_language,
)
from stopit_mail.cases.aliases import ALLEGED_SENDER, alias_address
from stopit_mail.cases.codes import format_code
from stopit_mail.cases.notices import template_dirs
from stopit_mail.outbound.ack_limits import ack_keys, refusal
from stopit_mail.outbound.compose import Draft
from stopit_mail.outbound.outbox import URGENT_DELIVERY, queue
from stopit_mail.outbound.render import make_environment
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register
from stopit_mail.rowbuffer import write_through
from stopit_mail.sealing import IdentityKeyError, sealed_recipient


@register
class Acknowledge(Step):
    """A side step: a failure to queue the acknowledgement never takes the case down with it."""

    name = "acknowledge"
    side_step = True

    def prepare(self, ctx: Context) -> None:
        assert ctx.extraction is not None, "extract-evidence must run first"
        # Outside the write transaction: guessing the language is the costliest part of it; the
        # keyed hashes the limits count by are computed here too (once, not once per use).
        ctx.language = report_language(ctx.extraction.wrapper_text)
        if ctx.reporter is not None and ctx.reporter.address:
            try:
                ctx.ack_keys = ack_keys(ctx.settings, ctx.reporter.address)
            except IdentityKeyError:
                ctx.ack_keys = None  # no key at all: `process` says so, as a side step

    def process(self, ctx: Context) -> None:
        assert ctx.case is not None, "open-case must run first"
        assert ctx.extraction is not None and ctx.reporter is not None
        filed = ctx.filed
        assert filed is not None, "open-case must run first"
        address = ctx.reporter.address
        emergency = ctx.case.urgency == "emergency"
        # The limits count flushed outbox rows only (queuing flushes each): the case's pending
        # changes (triage, language below) are flushed once, with the acknowledgement's row.
        with ctx.session.no_autoflush:
            reason, recipient = self._refusal(ctx, address, emergency)
        if reason:
            events.record(ctx.session, "acknowledgement-skipped", ctx.case.id, reason=reason, report_id=filed.report_id)
            return
        alias_row = filed.alias
        alias = alias_address(alias_row.code, ctx.organisation.mailboxes[0])
        language = ctx.language or report_language(ctx.extraction.wrapper_text)
        if not ctx.case.language:
            write_through(ctx.session, ctx.case, {"language": language})
        rendered = render_acknowledgement(
            make_environment(template_dirs(ctx.settings, ctx.organisation)), language,
            forwarding_client(ctx.message, ctx.extraction.client_hints),
            organisation=ctx.organisation.name, case_number=ctx.case.number,
            reporter_code=format_code(alias_row.code), case_address=alias,
            emergency_numbers=ctx.organisation.emergency_numbers, needs_headers=needs_full_headers(ctx.extraction),
            urgency=ctx.case.urgency,
        )
        # An anonymous reporter's Message-ID can name them, and the outbox keeps this mail readable.
        original_id = "" if ctx.sealed_identity else ctx.extraction.message_id
        draft = Draft(
            from_address=alias, from_name=f"{ctx.organisation.name} stopit",
            to=[recipient],
            subject=rendered.subject, body=rendered.body, reply_to=alias,
            in_reply_to=original_id, references=[original_id] if original_id else [],
        )
        keys = ctx.ack_keys or ack_keys(ctx.settings, address)
        queue(ctx.session, draft, "acknowledgement", f"ack:{ctx.raw.id}", ctx.case.id, envelope_from="",
                recipient_key=keys.recipient, domain_key=keys.domain,
                alias_id=alias_row.id, priority=URGENT_DELIVERY if emergency else 0)

    @staticmethod
    def _refusal(ctx: Context, address: str, emergency: bool) -> tuple[str | None, str]:
        """Why not to acknowledge (or None), and to whom (sealed for an anonymous reporter)."""
        assert ctx.case is not None and ctx.filed is not None and ctx.extraction is not None
        recipient = address
        try:
            reason = ("historical import (stopit ingest --no-ack)" if ctx.raw.no_ack
                      else "the sender wrote the offending message themselves"
                      if ctx.filed.sender_role == ALLEGED_SENDER
                      else refusal(ctx.session, ctx.settings, address, ctx.case.id,
                                   has_evidence=bool(ctx.extraction.items), emergency=emergency, keys=ctx.ack_keys))
            recipient = sealed_recipient(ctx.settings, address) if ctx.sealed_identity else address
        except IdentityKeyError as exc:
            # A side step: the case and its page must not go down with it.
            reason = f"identity key unavailable: {exc}"
        return reason, recipient
