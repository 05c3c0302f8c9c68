"""seal-identity: honour a reporter's request for anonymity before anything readable is stored.

Runs between extract-evidence and open-case. For an anonymous report `cases.seal_report` seals
the reporter (and their other addresses), scrubs every trace of them from the extraction and
seals the evidence bytes; here the stored message is kept sealed at rest (as the listener
stored it) and its envelope cleared, so staff see the report's code and `[reporter]` instead. Sealing needs only the
public key, so it is computed in `prepare`; should even that key be unavailable, the identity
is withheld (never stored readable) and the report goes on, so an emergency still pages.
"""

import logging

from stopit_mail.cases.anonymity import wants_anonymity
from stopit_mail.cases.seal_report import scrub_report, seal_report
from stopit_mail.cases.sealed_store import scrub_log_after_commit, seal_stored_message
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register
from stopit_mail.sealing import Identity, IdentityKeyError

log = logging.getLogger(__name__)
# Stored instead of a sealed identity when no key is available at intake: the case stays
# anonymous and is paged; the identity exists only in the stored raw message.
WITHHELD = "withheld: the identity key was unavailable at intake"


@register
class SealIdentity(Step):
    name = "seal-identity"

    def prepare(self, ctx: Context) -> None:
        assert ctx.extraction is not None, "extract-evidence must run first"
        ctx.reporter = Identity(ctx.extraction.reporter_address, ctx.extraction.reporter_name)
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
        ctx.updates["mail_from"] = "[sealed]" if ctx.raw.mail_from else ctx.raw.mail_from
        ctx.updates["peer"] = None
        ctx.updates["message_id"] = None  # written by their client, it can name them (domain, machine)
        ctx.updates["subject"] = ctx.extraction.subject[:500] or None
        if ctx.sealed_identity != WITHHELD:
            ctx.updates["content"] = seal_stored_message(ctx.settings, ctx.raw.content)

    def process(self, ctx: Context) -> None:
        if "content" in ctx.updates and not ctx.raw.sealed:
            # Stored readable (no key at the 250): drop the clear copy from SQLite's log too.
            scrub_log_after_commit(ctx.session)
