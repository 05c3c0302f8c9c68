"""seal-identity: honour a reporter's request for anonymity before anything readable is stored.

Runs between extract-evidence and open-case. For an anonymous report `cases.seal_report` seals
the reporter (and their other addresses), scrubs every trace of them from the extraction and
seals the evidence bytes; here the stored message itself is sealed at rest and its envelope
cleared, so staff see the report's code and `[reporter]` instead. Sealing needs only the
public key; should even that be unavailable, the identity is withheld (never stored readable)
and the report goes on, so an emergency still pages.
"""

import logging

from stopit_mail.cases.anonymity import wants_anonymity
from stopit_mail.cases.seal_report import scrub_report, seal_report
from stopit_mail.cases.sealed_store import scrub_log_after_commit, seal_stored_message
from stopit_mail.models import MessageKind
from stopit_mail.processing.context import Context
from stopit_mail.processing.registry import register
from stopit_mail.sealing import Identity, IdentityKeyError

log = logging.getLogger(__name__)
# Stored instead of a sealed identity when no key is available at intake: the case stays
# anonymous and is paged; the identity exists only in the stored raw message.
WITHHELD = "withheld: the identity key was unavailable at intake"


@register
class SealIdentity:
    name = "seal-identity"

    def process(self, ctx: Context) -> None:
        assert ctx.extraction is not None, "extract-evidence must run first"
        ctx.reporter = Identity(ctx.extraction.reporter_address, ctx.extraction.reporter_name)
        if ctx.arrival is None or ctx.arrival.kind is not MessageKind.REPORT:
            return
        if not wants_anonymity(ctx.extraction.subject, ctx.organisation, ctx.settings.casework.anonymity_words):
            return
        ours = {m for org in ctx.settings.organisations for m in org.mailboxes}
        try:
            ctx.sealed_identity = seal_report(ctx.settings, ctx.extraction, ctx.reporter, ours)
        except IdentityKeyError as exc:
            # A lost key must never silence a report (an emergency must still page): withhold
            # the identity instead of sealing it, and say so loudly.
            log.critical("message %s: anonymous identity withheld, not sealed: %s", ctx.raw.id, exc)
            ctx.sealed_identity = WITHHELD
            ctx.defects.append(f"identity-not-sealed: {exc}"[:200])
            scrub_report(ctx.extraction, ctx.reporter, ours)
        ctx.raw.mail_from = "[sealed]" if ctx.raw.mail_from else ctx.raw.mail_from
        ctx.raw.peer = None
        ctx.raw.subject = ctx.extraction.subject
        if ctx.sealed_identity != WITHHELD:
            seal_stored_message(ctx.settings, ctx.raw)
            scrub_log_after_commit(ctx.session)
