"""What a mail client shows of an HTML part, which matching on its bytes would not see.

A client joins what the markup splits: "Ki<b></b>m" and "Ki<!-- x -->m" read "Kim", and a
mailto link written with character references ("&#107;im@...") opens the address. Comments are
dropped, inline tags removed without a gap and block tags turned into line breaks, as shown; the
markup is also read whole with its references decoded, so attributes (links, alt text) count.
"""

from __future__ import annotations

import html
import re

_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_BLOCK = re.compile(r"</?(?:p|div|br|tr|td|th|li|h[1-6]|blockquote|hr|table|ul|ol|pre|section|article|"
                    r"header|footer)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")


def html_shown(markup: str) -> str:
    """The text an HTML part shows, its line structure kept."""
    return html.unescape(_TAG.sub("", _BLOCK.sub("\n", _COMMENT.sub("", markup))))


def html_forms(markup: str) -> list[str]:
    """Every reading of an HTML part a trace could hide in: shown, tags as gaps, the whole markup."""
    return [html_shown(markup), html.unescape(_TAG.sub(" ", markup)), html.unescape(markup)]
