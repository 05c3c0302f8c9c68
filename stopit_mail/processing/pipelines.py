"""One pipeline per kind of message (Mailman's chains, then pipelines).

The chain (`chain.py`) decides once what a message is; the runner then runs that kind's
pipeline, so no handler asks "is this my kind of message?". Each name is a handler in
`handlers/<name with underscores>.py`.
"""

from __future__ import annotations

from stopit_mail.processing.context import Kind

PIPELINES: dict[Kind, tuple[str, ...]] = {
    Kind.REPORT: (
        "extract-evidence",
        "analyse-headers",
        "seal-identity",
        "open-case",
        "triage",
        "escalate-emergency",
        "route",
        "acknowledge",
    ),
    Kind.CASE_REPLY: ("file-reply", "triage-reply"),
    Kind.PAGE_ACK: ("acknowledge-page",),
    Kind.BOUNCE: ("file-bounce",),
    Kind.AUTO_REPLY: ("set-aside-automatic",),
}
