"""A reporter named inside a uuencoded file or rich text never reaches an office.

Red team (non-negotiable 2). Two old encodings inside text parts are decoded by the office's
reader but were matched as they were written: a uuencoded block ("begin 644 list.txt" ... "end"),
which Thunderbird and Outlook show as an attached file, and rich text, whose escapes Word shows
as letters ("K\\'69m" is "Kim"). Redaction now leaves both out (they cannot be redacted with
certainty), and the leak guard reads them decoded. The checker decodes them itself.
"""

from __future__ import annotations

import binascii
import re

from redaction_helpers import attached_texts, evidence, guard_finds, referral_of

from stopit_mail.app import App

NAMED = b"Everyone on this list should message Kim Park tonight.\n"
UUENCODED = ("everyone knows.\n\nbegin 644 list.txt\n" + binascii.b2a_uu(NAMED[:45]).decode()
             + binascii.b2a_uu(NAMED[45:]).decode() + "`\nend\n")
RICH = r"{\rtf1\ansi{\fonttbl\f0 Arial;}\f0 Tell K\'69m P\u97?rk what you think.\par}"


def _uudecoded(text: str) -> str:
    lines = re.findall(r"^begin \d+ \S+\n(.*?)^end$", text, re.M | re.S)
    decoded = b""
    for block in lines:
        for line in block.splitlines():
            decoded += binascii.a2b_uu(line)
    return decoded.decode("utf-8", "replace")


def _evidence() -> bytes:
    return evidence(UUENCODED, files=(("note.rtf", "text/rtf", RICH.encode()),))


def test_a_name_in_a_uuencoded_file_or_rich_text_is_not_sent_to_an_office(app: App) -> None:
    texts = attached_texts(referral_of(app, _evidence()))
    shown = "\n".join(texts + [_uudecoded(t) for t in texts]).casefold()
    assert "everyone knows." in shown
    assert "kim" not in shown and "park" not in shown
    assert "k\\'69m" not in shown  # the rich text was left out, not passed on encoded


def test_the_guard_reads_uuencoded_files_and_rich_text() -> None:
    assert guard_finds("list.txt", "text/plain", UUENCODED.encode())
    assert guard_finds("note.rtf", "text/rtf", RICH.encode())
