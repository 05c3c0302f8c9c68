"""classify-arrival: report, reply on a case, bounce, or automatic message.

A reply is filed only by an unguessable case alias or by threading on a message we sent
(`cases.replies`); a case number in the subject is a hint for staff, never a key. A message
that only *looks* like a reply is treated as a new report (a reporter who quotes an old case
number still gets heard), except an answer to our own mail, which never opens a case.
"""

from stopit_mail.cases.replies import file_possible_reply
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
            filing = file_possible_reply(ctx.session, arrival.alias_codes, arrival.subject_tags,
                                         arrival.referenced_ids, ctx.raw.id)
            arrival.kind, arrival.reason = filing.kind, filing.reason
            if filing.target is not None:
                ctx.case, ctx.reply_alias = filing.target.case, filing.target.alias
        ctx.arrival = arrival
        ctx.raw.kind = arrival.kind
