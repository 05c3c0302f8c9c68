"""extract-evidence: recover the offending messages and files from the parsed report."""

from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.extract.mime import ParsedMessage
from stopit_mail.processing.context import Context, Step
from stopit_mail.processing.registry import register


@register
class ExtractEvidence(Step):
    name = "extract-evidence"

    def prepare(self, ctx: Context) -> None:
        limits = ctx.settings.limits
        ctx.extraction = extract_evidence(ctx.raw.content, limits.max_nesting_depth, limits.max_parts,
                                          parsed=ParsedMessage(ctx.message, ctx.defects), body=ctx.body)
