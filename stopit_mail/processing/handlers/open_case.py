"""open-case: file the report on a new case, or join the case of the same offending message.

The report's sender as received (kept in memory even when sealed) decides whether the alleged
sender is forwarding his own mail: such a report is kept apart from the reporters.
Evidence bytes that begin with the seal marker are sealed even on an ordinary case, since stored
readable they would read as sealed (`readable_at_rest`).
"""

import logging

from stopit_mail.cases.replies import record_mentions
from stopit_mail.cases.service import evidence_keys, open_or_join_case
from stopit_mail.headers.stored import compact
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register
from stopit_mail.sealing import IdentityKeyError, readable_at_rest

log = logging.getLogger(__name__)


@register
class OpenCase(Step):
    name = "open-case"

    def prepare(self, ctx: Context) -> None:
        assert ctx.extraction is not None, "extract-evidence must run first"
        # The analyses' stored form, outside the write transaction (after seal-identity has
        # scrubbed them: the stored form holds the same values).
        for item in ctx.extraction.items:
            item.analysis = compact(item.analysis)
        ctx.evidence_keys = evidence_keys(ctx.extraction.items)

    def process(self, ctx: Context) -> None:
        assert ctx.extraction is not None, "extract-evidence must run first"
        if ctx.sealed_identity is None:
            for item in ctx.extraction.items:
                if item.content is not None:
                    try:
                        item.content = readable_at_rest(ctx.settings, item.content)
                    except IdentityKeyError as exc:  # no key: kept as is, opened by no reader
                        ctx.defects.append(f"evidence-looks-sealed: {exc}"[:200])
        ctx.filed = open_or_join_case(
            ctx.session, ctx.organisation, ctx.raw, ctx.extraction, sealed_identity=ctx.sealed_identity,
            sender_address=ctx.reporter.address if ctx.reporter else "", keys=ctx.evidence_keys)
        ctx.case = ctx.filed.case
        ctx.updates["case_id"] = ctx.case.id
        record_mentions(ctx.session, ctx.mentioned_case_ids, ctx.raw.id)
