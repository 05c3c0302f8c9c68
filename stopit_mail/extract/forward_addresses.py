"""Mailboxes as mail clients print them in a forwarded header block.

A forward shows addresses the way the client rendered them, not as RFC 5322 wrote them:
`Name <addr>`, `Name [mailto:addr]`, `"Name" <addr>`, `'Name' <addr>`, a bare `addr`,
Outlook's link artefact `Name <addr<mailto:addr>>`, `Name (addr)`, or only a name. Lists are
joined with commas or semicolons, and Outlook puts commas inside names ("Doe, John"). The
parser here is a small hand-written scanner: linear in its input and never raising.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stopit_mail.extract.mime import decode_words

# Outlook renders a link after each address: "addr<mailto:addr>". It carries nothing new.
_MAILTO_ARTEFACT = re.compile(r"(?<=\S)<mailto:[^<>\s]{0,320}>", re.IGNORECASE)
_QUOTES = "\"'«»„“”‚‘’「」"
_OPENERS = {"<": ">", "[": "]", "(": ")"}
_MAX_LIST = 4000  # characters of a To/Cc value worth reading; the rest is noise


@dataclass(frozen=True)
class MailAddress:
    """A mailbox shown in a forward.

    `name` is "" when the client showed none (or showed the address as the name);
    `address` is "" when the client showed only a name, and "@domain" when it showed an
    address with no local part (`<@example.net>`). The domain is lower-cased.
    """

    name: str
    address: str


def normalise_address(text: str) -> str:
    """`addr-spec` with a lower-cased domain, or "" when `text` is not an address."""
    candidate = text.strip().strip(_QUOTES + "<>[]()").strip()
    if candidate.lower().startswith("mailto:"):
        candidate = candidate[7:]
    if candidate.count("@") != 1 or any(ch.isspace() for ch in candidate):
        return ""
    local, _, domain = candidate.partition("@")
    domain = domain.rstrip(".,;:")
    if not local or not domain or len(candidate) > 320 or "<" in candidate or ">" in candidate:
        return ""
    return f"{local}@{domain.lower()}"


def _domain_only(text: str) -> str:
    """``@domain`` for an address printed with no local part (``<@example.net>``), kept as
    written so that staff see what the client showed; "" for anything else."""
    candidate = text.strip().strip(_QUOTES + "<>[]()").strip()
    domain = candidate[1:].rstrip(".,;:") if candidate.startswith("@") else ""
    if not domain or "@" in domain or "." not in domain or any(ch.isspace() or ch in "<>" for ch in domain):
        return ""
    return "@" + domain.lower()


def _clean_name(text: str) -> str:
    """A display name without surrounding quotes, commas or spaces."""
    name = " ".join(decode_words(text).split())
    previous = None
    while name != previous:
        previous = name
        name = name.strip(" ,;:*" + _QUOTES)  # "*Bob*": bold from an HTML rendering
    return name


def _bracketed(item: str) -> tuple[int, int, str] | None:
    """(start, end, inner text) of the first <...>, [...] or (...) holding an address."""
    index = 0
    while index < len(item):
        closer = _OPENERS.get(item[index])
        if closer is None:
            index += 1
            continue
        end = item.find(closer, index + 1)
        if end < 0:
            return None
        inner = item[index + 1:end]
        if "@" in inner:
            return index, end + 1, inner
        index += 1
    return None


def parse_mailbox(item: str) -> MailAddress | None:
    """One printed mailbox ("Name <addr>", "addr", "Name"); None for an empty item."""
    text = item.strip()
    if not text:
        return None
    found = _bracketed(text)
    if found is not None:
        start, end, inner = found
        address = normalise_address(inner) or _domain_only(inner)
        if address:
            # "Name <addr> on behalf of other@x": the name is what precedes the bracket.
            name = _clean_name(text[:start]) or _clean_name(text[end:])
            return MailAddress(name="" if _same(name, address) else name, address=address)
    words = text.split()
    for position, word in enumerate(words):
        address = normalise_address(word)
        if address:
            name = _clean_name(" ".join(words[:position]) or " ".join(words[position + 1:]))
            return MailAddress(name="" if _same(name, address) else name, address=address)
    name = _clean_name(text)
    return MailAddress(name=name, address="") if name else None


def _same(name: str, address: str) -> bool:
    """True when a client printed the address again as the name ("a@b <a@b>")."""
    return normalise_address(name).lower() == address.lower() if name else True


def _split_items(value: str) -> list[str]:
    """Cut a printed list into mailboxes.

    A semicolon always separates. A comma separates only once the current item holds an
    address, so that "Doe, John <j@x>" stays one mailbox. Quotes and brackets protect commas.
    """
    items: list[str] = []
    current: list[str] = []
    has_address = False
    closer = ""
    quote = ""
    for char in value:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if closer:
            current.append(char)
            if char == closer:
                closer = ""
            elif char == "@":
                has_address = True
            continue
        if char == '"':
            quote = char
        elif char in _OPENERS:
            closer = _OPENERS[char]
        elif char == "@":
            has_address = True
        if char == ";" or (char == "," and has_address):
            items.append("".join(current))
            current, has_address = [], False
            continue
        current.append(char)
    items.append("".join(current))
    return items


def parse_mailbox_list(value: str) -> list[MailAddress]:
    """Every mailbox of a printed To/Cc/From value, in order."""
    cleaned = _MAILTO_ARTEFACT.sub("", value[:_MAX_LIST])
    mailboxes = []
    for item in _split_items(cleaned):
        mailbox = parse_mailbox(item)
        if mailbox is not None:
            mailboxes.append(mailbox)
    return mailboxes


def parse_sender(value: str) -> MailAddress | None:
    """The first mailbox of a From value ("A <a@x> on behalf of b@y" gives A)."""
    cleaned = _MAILTO_ARTEFACT.sub("", value[:_MAX_LIST])
    found = _bracketed(cleaned)
    if found is not None:
        return parse_mailbox(cleaned[:found[1]])
    mailboxes = parse_mailbox_list(cleaned)
    return mailboxes[0] if mailboxes else None
