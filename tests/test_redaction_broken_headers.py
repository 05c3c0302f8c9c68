"""A harasser's malformed header cannot stop a referral, nor reveal the reporter in it.

Red team (non-negotiables 2, 4 and 5). The offending message is the harasser's to shape. A
header field Python's email parser cannot read ("To: undisclosed-recipients:; kim@...",
"Cc: a@[") makes it raise AttributeError or IndexError when the field is read or written:
redaction of the attached evidence and the leak guard both failed with it, so no referral could
be prepared for the case, and an emergency's automatic referral was never sent (a
side-step-failed event said so). Fields are read as a client shows them, and one the parser
cannot handle is written back as encoded words, scrubbed like any other.
"""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

from test_guard_own_words import emergency_referral
from test_referrals import _installation

from stopit_mail.app import App
from stopit_mail.outbound.redact import Traces, find_leaks, redact_message

KIM = "kim.park@example.edu"
ORIGINAL = (f"From: Some One <offender@example.net>\r\nTo: undisclosed-recipients:; Kim Park <{KIM}>\r\n"
            f"Cc: {'x' * 90}@[\r\nSubject: you\r\nSubject: and Kim\r\nDate: Mon, 16 Nov 2026 04:41:03 +0000\r\n"
            "Message-ID: <off-9@example.net>\r\n\r\nKim, nobody will miss you.\r\n").encode()


def test_an_emergency_whose_evidence_has_a_broken_header_is_still_referred(app: App) -> None:
    _config, app = _installation(app, chains=True)
    try:
        referral = emergency_referral(app, f"Kim Park <{KIM}>", "He sent her this:", ORIGINAL)
        message = BytesParser(policy=policy.default).parsebytes(referral.content)
        (evidence,) = [p for p in message.iter_attachments() if (p.get_filename() or "").endswith(".eml")]
        inner = BytesParser(policy=policy.default).parsebytes(evidence.get_payload(decode=True))  # type: ignore[arg-type]
        shown = "\n".join(str(v) for _k, v in inner.items()) + inner.get_content()  # type: ignore[attr-defined]
        assert "undisclosed-recipients" in shown and "and [reporter]" in shown  # the second Subject
        assert "[reporter], nobody will miss you." in shown
        body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert not re.search(r"\bkim\b|\bpark\b", shown + body, re.I) and "pills tonight" in body
    finally:
        app.close()


def test_the_guard_reads_a_header_the_parser_cannot() -> None:
    traces = Traces()
    traces.add_name("Kim Park")
    assert find_leaks(ORIGINAL, traces)  # no exception: the fields are read as shown
    redacted = redact_message(ORIGINAL, traces)
    assert redacted.content is not None and find_leaks(redacted.content, traces) == []
