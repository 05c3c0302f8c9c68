"""extract-evidence and open-case: turn a new report into a case with its evidence."""

from stopit_mail.cases.service import open_or_join_case
from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.processing.context import Context
from stopit_mail.processing.registry import register


@register
class ExtractEvidence:
    name = "extract-evidence"

    def process(self, ctx: Context) -> None:
        limits = ctx.settings.limits
        ctx.extraction = extract_evidence(ctx.content, limits.max_nesting_depth, limits.max_parts)
        ctx.defects.extend(d for d in ctx.extraction.defects if d not in ctx.defects)


@register
class OpenCase:
    name = "open-case"

    def process(self, ctx: Context) -> None:
        assert ctx.extraction is not None, "extract-evidence must run first"
        ctx.case, _joined = open_or_join_case(
            ctx.session, ctx.organisation, ctx.raw, ctx.extraction, sealed_identity=ctx.sealed_identity,
            sender_address=ctx.reporter.address if ctx.reporter else "")
        ctx.raw.case_id = ctx.case.id
