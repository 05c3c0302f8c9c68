"""Remote content in HTML evidence, made inert before an office opens it.

A harasser's HTML mail often carries a tracking pixel or a remote image whose address is unique
to its recipient (read-receipt tools, mass-mail services). Attached to a referral, it would load
from the office's mail client and tell the harasser that their target's copy was opened again,
when and from where: that the reporter reported. Every attribute and style rule that loads
something when the markup is shown is renamed or emptied; links a person must click (`<a href>`)
stay, as does what the message itself carries (`cid:` parts, `data:` images). A request for a
read receipt does the same by mail (Outlook asks, or sends it unasked, when an attached message
is opened): those header fields are removed.
"""

from __future__ import annotations

import html
import re

# Attributes that load on display, by tag where they load only there (<link href>, SVG <image href>).
_LOADING = frozenset({"src", "srcset", "background", "poster", "lowsrc", "dynsrc", "data", "xlink:href",
                      "imagesrcset", "codebase", "archive", "profile", "manifest", "formaction", "ping"})
_LOADING_HREF_TAGS = frozenset({"link", "image", "use", "feimage", "base", "script", "iframe", "embed", "img"})
# A quoted value may hold ">" ('<img alt="a>b" src=...>'); the alternatives start with distinct characters.
_TAG = re.compile(r"""<([a-zA-Z][\w:-]*)(\s(?:"[^"]*"|'[^']*'|[^"'>])*)?>""")
_ATTRIBUTE = re.compile(r"""(?<=[\s"'/])([\w:-]+)(\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)""")
_CSS_URL = re.compile(r"url\s*\(\s*(\"[^\"]*\"|'[^']*'|[^)]*)\)", re.I)
_CSS_IMPORT = re.compile(r"@import(?![\w-])", re.I)
_META_REFRESH = re.compile(r"<meta\b[^>]*http-equiv\s*=\s*[\"']?refresh[^>]*>", re.I)
#: Header fields asking the reader's client to tell the sender that the message was read.
READ_RECEIPT_FIELDS = frozenset({"disposition-notification-to", "return-receipt-to", "x-confirm-reading-to",
                                 "read-receipt-to", "generate-delivery-report", "disposition-notification-options"})
_KEPT_SCHEMES = ("cid:", "data:", "#", "about:blank")


def _loads_remote(value: str) -> bool:
    """Whether an attribute or url() value names something outside the message."""
    target = re.sub(r"[\s\x00-\x1f]", "", html.unescape(value.strip("\"'"))).lower()
    return bool(target) and not target.startswith(_KEPT_SCHEMES)


def _inert_tag(match: re.Match[str]) -> str:
    tag, attributes = match.group(1).lower(), match.group(2) or ""

    def attribute(found: re.Match[str]) -> str:
        name = found.group(1).lower()
        loads = name in _LOADING or (name == "href" and tag in _LOADING_HREF_TAGS)
        if loads and _loads_remote(found.group(3)):
            return f"data-remote-{name.replace(':', '-')}{found.group(2)}{found.group(3)}"
        return found.group(0)
    return f"<{match.group(1)}{_ATTRIBUTE.sub(attribute, attributes)}>"


def inert_html(markup: str) -> str:
    """`markup` as shown, but loading nothing from outside the message when it is."""
    markup = _META_REFRESH.sub("", markup)
    markup = _TAG.sub(_inert_tag, markup)
    markup = _CSS_URL.sub(lambda m: m.group(0) if not _loads_remote(m.group(1)) else "url(about:blank)", markup)
    return _CSS_IMPORT.sub("@import-removed", markup)


def loads_remote(markup: str) -> bool:
    """Whether showing `markup` would fetch something from outside the message."""
    return inert_html(markup) != markup
