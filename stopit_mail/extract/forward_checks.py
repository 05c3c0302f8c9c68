"""What a found inline forward means: which message of a forwarded thread is the original,
and whether the "forward" is only an imitation.

A forwarded thread (a forward of "RE: RE: ..." messages) gives one evidence item per level;
the deepest is the original the thread started from, and each item says so. Spam and
phishing imitate forwards ("Fwd: invoice" with a made-up "From: CEO" block) so that the
message looks vouched for. Such a message was sent to us, not forwarded by someone who got
it: the "forwarded" message is addressed to the same mailbox the mail itself came to, and the
sender of the mail is not among its recipients. It is marked suspicious, and the mail itself
becomes the evidence, with its real sender as the alleged sender.
"""

from __future__ import annotations

from email.message import Message

from stopit_mail.extract import mime
from stopit_mail.extract.forwards import InlineForward

IMITATION = ("suspicious: this mail imitates a forward: the 'forwarded' message is addressed to "
             "the mailbox this mail was sent to, and its sender {sender} is not among its recipients")


def thread_notes(levels: list[InlineForward]) -> list[str]:
    """A note per level of a forwarded thread (outermost first) naming the deepest original."""
    if len(levels) < 2:
        return [""] * len(levels)
    deepest = levels[-1]
    who = (deepest.from_.address or deepest.from_.name) if deepest.from_ else "an unknown sender"
    outer = f"an outer message of a forwarded thread of {len(levels)}; the deepest original is from {who}"
    return [outer] * (len(levels) - 1) + [f"the deepest original of a forwarded thread of {len(levels)}"]


def imitation_reason(message: Message, forward: InlineForward) -> str | None:
    """Why a top-level forward looks imitated, or None when it reads as a real forward."""
    senders = mime.addresses(message, "From")
    sender = senders[0][1] if senders else ""
    if not sender or forward.from_ is None:
        return None
    shown_to = {a.address.lower() for a in forward.to + forward.cc if a.address}
    delivered_to = {address for _name, address in mime.addresses(message, "To") + mime.addresses(message, "Cc")}
    if shown_to & delivered_to and sender.lower() not in shown_to:
        return IMITATION.format(sender=sender)
    return None
