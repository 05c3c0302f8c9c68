"""A reporter's name written in a style sheet's generated content never reaches an office.

Red team (non-negotiable 2). Apple Mail and Thunderbird show `p::after { content: ... }` as text,
and CSS writes a character as a backslash and its hex code: "Kim \\50 ark" shows "Kim Park".
Redaction matched the markup and its HTML entities, blanked "Kim" and left "\\50 ark", so the
office read the surname. The checker here decodes CSS escapes itself.
"""

from __future__ import annotations

import re

import pytest
from redaction_helpers import attached_texts, evidence, guard_finds, referral_of

from stopit_mail.app import App

STYLES = {
    "hex escape": "p.x::after { content: 'Kim \\50 ark' }",
    "escape ending the code with a space": "p.x::before { content: '\\4b im \\000050ark' }",
    "joined strings": "p.x::after { content: 'Ki' 'm P' \"ark\" }",
    "escaped letters": "p.x::after { content: '\\K\\i\\m \\P\\a\\r\\k' }",
}


def _css_read(text: str) -> str:
    """Generated content as a CSS engine reads it: escapes decoded, adjacent strings joined."""
    text = re.sub(r"\\([0-9a-fA-F]{1,6})\s?", lambda m: chr(int(m.group(1), 16)), text)
    text = re.sub(r"\\(.)", r"\1", text)
    return re.sub(r"['\"]\s*['\"]", "", text).casefold()


def _evidence(style: str) -> bytes:
    return evidence("everyone knows.", f"<html><head><style>{style}</style></head><body><p class=x>everyone knows:</p>"
                                       "</body></html>")


@pytest.mark.parametrize("how", list(STYLES))
def test_a_name_in_generated_content_is_scrubbed_from_a_referral(app: App, how: str) -> None:
    shown = "\n".join(_css_read(text) for text in attached_texts(referral_of(app, _evidence(STYLES[how]))))
    assert "everyone knows" in shown
    for trace in ("kim", "park"):
        assert not re.search(rf"(?<![^\W_]){trace}(?![^\W_])", shown), (how, trace)


@pytest.mark.parametrize("how", list(STYLES))
def test_the_guard_reads_generated_content(how: str) -> None:
    assert guard_finds("evidence.eml", "message/rfc822", _evidence(STYLES[how]))
