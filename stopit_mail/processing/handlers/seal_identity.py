"""seal-identity: honour a reporter's request for anonymity before anything readable is stored.

Runs between extract-evidence and open-case. For an anonymous report it seals the reporter's
address and name, blanks them from the extraction (wrapper text, the evidence's recipient
lists, bodies and header blocks: a forwarded message was usually sent *to* the reporter) and
from the stored envelope, so staff see the case code and `[reporter]` instead.
"""

import json
import logging

from stopit_mail.cases.anonymity import REDACTED, redact_text, wants_anonymity
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register
from stopit_mail.sealing import Identity, IdentityKeyError, seal

log = logging.getLogger(__name__)
# Stored instead of a sealed identity when the key is missing or corrupt at intake: the case
# stays anonymous and is paged; the identity exists only in the stored raw message.
WITHHELD = "withheld: the identity key was unavailable at intake"


def _redact_extraction(ctx: Context, identity: Identity) -> None:
    assert ctx.extraction is not None
    extraction = ctx.extraction
    extraction.reporter_address = ""
    extraction.reporter_name = ""
    extraction.wrapper_text = redact_text(extraction.wrapper_text, identity) or ""
    address = identity.address.lower()
    for item in extraction.items:
        item.to = [[REDACTED, ""] if addr.lower() == address else [name, addr] for name, addr in item.to]
        item.cc = [[REDACTED, ""] if addr.lower() == address else [name, addr] for name, addr in item.cc]
        item.body_text = redact_text(item.body_text, identity)
        item.header_block = redact_text(item.header_block, identity)
        if item.analysis is not None:
            item.analysis = json.loads(redact_text(json.dumps(item.analysis), identity) or "null")


@register
class SealIdentity(Step):
    name = "seal-identity"

    def prepare(self, ctx: Context) -> None:
        assert ctx.extraction is not None, "extract-evidence must run first"
        ctx.reporter = Identity(ctx.extraction.reporter_address, ctx.extraction.reporter_name)
        if not wants_anonymity(ctx.extraction.subject, ctx.organisation, ctx.settings.casework.anonymity_words):
            return
        try:
            ctx.sealed_identity = seal(ctx.settings, ctx.reporter)
        except IdentityKeyError as exc:
            # A lost key must never silence a report (an emergency must still page): withhold
            # the identity instead of sealing it, and say so loudly.
            log.critical("message %s: anonymous identity withheld, not sealed: %s", ctx.raw.id, exc)
            ctx.sealed_identity = WITHHELD
            ctx.defects.append(f"identity-not-sealed: {exc}"[:200])
        _redact_extraction(ctx, ctx.reporter)
        if ctx.raw.mail_from:
            ctx.updates["mail_from"] = "[sealed]"
