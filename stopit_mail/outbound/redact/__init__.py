"""Redaction that understands mail: decode, find every trace of the reporter, redact, re-encode.

One idea per module: `traces` (what identifies a reporter and how to find it in any text),
`images` (metadata stripping with Pillow), `message` (the MIME tree: headers, text and HTML
parts, attached messages, files), `guard` (the final check on the decoded tree of outgoing mail).
"""

from stopit_mail.outbound.redact.guard import LeakFound, find_leaks
from stopit_mail.outbound.redact.message import Redacted, redact_file, redact_message
from stopit_mail.outbound.redact.traces import Traces, delivery_addresses, signature_lines, written_addresses

__all__ = ["LeakFound", "Redacted", "Traces", "delivery_addresses", "find_leaks", "redact_file", "redact_message",
           "signature_lines", "written_addresses"]
