"""Error texts are recorded without an identity: the one helper every recording boundary calls.

Error texts carry what they were fed: a relay quotes the address it refuses, SQLAlchemy lists a
statement's parameters (addresses, names, message text), a parser quotes the header it chokes
on. Quarantine reasons, the runner's and the delivery's log lines, outbox errors and the audit
records made of them all pass through `redact_error` before they are written, so none of them
can hold the address or name of an anonymous reporter, whatever failed and wherever.

Every e-mail address becomes `[address]` (whoever it belongs to: the cause is in the words
around it, and the row the error is recorded on says who was involved), SQL parameters are
dropped, and every trace of the identities given (name words, address variants: `Traces`)
becomes `[reporter]`. The precise cause stays: the handler, the exception class, the SMTP
code and the relay's own words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses

from stopit_mail.outbound.redact.traces import Traces

ADDRESS = "[address]"
# Anything@anything.tld, Unicode and quoted-printable-free forms alike (IDN, `zoë@exämple.org`).
ADDRESS_PATTERN = re.compile(r"[^\s<>\"'(),;:\[\]@]+@[^\s<>\"'(),;:\[\]@]+\.[^\s<>\"'(),;:\[\]@.]+")
_PARAMETERS = re.compile(r"\[parameters: .*?(?=\n\(Background on this error|\Z)", re.DOTALL)


def redact_error(text: str, identities: Iterable[tuple[str, str]] = ()) -> str:
    """`text` without any e-mail address, SQL parameters, or trace of the (name, address) pairs."""
    if not text:
        return text
    traces = Traces()
    for name, address in identities:
        traces.add_name(name)
        traces.add_address(address)
    text = _PARAMETERS.sub("[parameters not recorded]", text)
    text = traces.scrub(text) if traces else text
    return ADDRESS_PATTERN.sub(ADDRESS, text)


def message_identities(message: Message | None) -> list[tuple[str, str]]:
    """The people a message comes from (From, Sender, Reply-To): whose traces an error must not keep."""
    if message is None:
        return []
    try:
        values = [str(make_header(decode_header(str(v))))
                  for h in ("From", "Sender", "Reply-To") for v in (message.get_all(h) or [])]
        return [(name, address) for name, address in getaddresses(values) if name or address]
    except Exception:  # noqa: BLE001 - a header too broken to read names nobody; addresses are masked anyway
        return []
