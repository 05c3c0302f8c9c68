"""The chain: decide once what a parsed message is, and so which pipeline runs it.

Order matters. A bounce is recognised first (it may carry our page's code and look automatic);
then a reply to a page (by its `+ack-<code>` address, or a quoted code of an open escalation),
which robots can reach too (an out-of-office answer to a page is set aside on its case); then
any other automatic message (RFC 3834); then a reply on a known case. What remains is a new
report, including a message that only *looks* like a reply (its hints match no case): a
reporter who quotes an old case number still gets heard.

The chain reads the database (codes, cases) through `ctx.session`, a read session outside the
write transaction, shared by the messages of one claimed batch (the open escalations' codes are
read once for all of them); the pipeline's `process` re-reads what it needs by id.
"""

from __future__ import annotations

from stopit_mail.cases.escalation import ACK_PREFIX, codes_in_text, find_by_code, open_codes
from stopit_mail.cases.escalation_replies import own_words
from stopit_mail.cases.replies import file_possible_reply
from stopit_mail.extract import mime
from stopit_mail.ingest.classify import alias_codes, automatic_reason, classify, classify_not_bounce, is_bounce
from stopit_mail.models import MessageKind
from stopit_mail.processing.context import Context, Kind


def ack_codes(ctx: Context) -> list[str]:
    """Codes of `<mailbox>+ack-<code>@` recipients of our own mailboxes (envelope, To, Cc)."""
    ours = [a for a in ctx.raw.rcpt_to if ctx.settings.organisation_for(a) is not None]
    ours += [a for _n, a in mime.addresses(ctx.message, "To") + mime.addresses(ctx.message, "Cc")
             if ctx.settings.organisation_for(a) is not None]
    return [code[len(ACK_PREFIX):] for code in alias_codes(ours, ctx.message) if code.startswith(ACK_PREFIX)]


def _page_ack(ctx: Context) -> bool:
    """True (with the escalations found) when the message answers one of our pages."""
    codes = ack_codes(ctx)
    found = [esc for esc in (find_by_code(ctx.session, code) for code in codes) if esc is not None]
    ctx.automatic = automatic_reason(ctx.message, ctx.raw.mail_from)
    if not found and not codes:
        # Only the sender's own words count: a code quoted from the page below them does not.
        rows = _open_codes(ctx)
        found = codes_in_text(ctx.session, ctx.subject + "\n" + own_words(ctx.body), rows) if rows else []
    ctx.ack_codes = codes
    ctx.escalation_ids = [esc.id for esc in found]
    # An automatic message quoting an unknown ack code is just automatic.
    return bool(found) or (bool(codes) and not ctx.automatic)


_OPEN_CODES = "stopit.open-codes"


def _open_codes(ctx: Context) -> list[tuple[int, str]]:
    """The open escalations' codes, read once per read session (one claimed batch: a page created
    meanwhile is at most a batch's computing old, long before anyone can have answered it)."""
    rows: list[tuple[int, str]] | None = ctx.session.info.get(_OPEN_CODES)
    if rows is None:
        rows = ctx.session.info[_OPEN_CODES] = open_codes(ctx.session)
    return rows


def decide(ctx: Context) -> Kind:
    """The kind of the message in `ctx` (and the hints its pipeline needs)."""
    if is_bounce(ctx.message, ctx.raw.mail_from):
        ctx.arrival = classify(ctx.message, ctx.raw.mail_from, ctx.raw.rcpt_to)
        return Kind.BOUNCE
    if _page_ack(ctx):
        return Kind.PAGE_ACK
    # Not a bounce, and `_page_ack` read whether it is automatic: classified without reading either again.
    arrival = classify_not_bounce(ctx.message, ctx.raw.rcpt_to, ctx.automatic)
    ctx.arrival = arrival
    if arrival.kind is MessageKind.AUTO_REPLY:
        return Kind.AUTO_REPLY
    if arrival.kind is MessageKind.REPLY:
        # Filed only by an unguessable alias or threading on our own mail (`cases.replies`).
        filing = file_possible_reply(ctx.session, arrival.alias_codes, arrival.subject_tags, arrival.referenced_ids)
        arrival.kind, arrival.reason = filing.kind, filing.reason
        if filing.target is not None:
            ctx.case_id, ctx.reply_alias_id = filing.target.case.id, filing.target.alias.id
            return Kind.CASE_REPLY
        if filing.kind is MessageKind.AUTO_REPLY:
            return Kind.AUTO_REPLY  # an answer to our own mail: set aside, never a case
        ctx.mentioned_case_ids = filing.mentioned
    return Kind.REPORT


# How each kind is recorded on the stored row (a page acknowledgement is a reply on its case).
STORED_KIND = {
    Kind.REPORT: MessageKind.REPORT,
    Kind.CASE_REPLY: MessageKind.REPLY,
    Kind.PAGE_ACK: MessageKind.REPLY,
    Kind.BOUNCE: MessageKind.BOUNCE,
    Kind.AUTO_REPLY: MessageKind.AUTO_REPLY,
}
