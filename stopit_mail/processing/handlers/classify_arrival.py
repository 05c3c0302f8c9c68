"""classify-arrival: report, reply on a case, bounce, or automatic message.

A message that only *looks* like a reply (an alias code or subject tag that matches no case)
is treated as a new report: a reporter who quotes an old case number still gets heard.
"""

from stopit_mail.cases.service import find_case_for_reply
from stopit_mail.ingest.classify import classify
from stopit_mail.models import MessageKind
from stopit_mail.processing.context import Context
from stopit_mail.processing.registry import register


@register
class ClassifyArrival:
    name = "classify-arrival"

    def process(self, ctx: Context) -> None:
        assert ctx.message is not None, "parse-message must run first"
        arrival = classify(ctx.message, ctx.raw.mail_from, list(ctx.raw.rcpt_to or []))
        if arrival.kind is MessageKind.REPLY:
            ctx.case = find_case_for_reply(
                ctx.session, arrival.alias_codes, arrival.subject_tags, arrival.referenced_ids
            )
            if ctx.case is None:
                arrival.kind = MessageKind.REPORT
                arrival.reason = "new report (reply hints matched no case)"
        ctx.arrival = arrival
        ctx.raw.kind = arrival.kind
