"""A reporter's name spelled with lookalike letters of another script never reaches an office.

Red team (non-negotiable 2). A harasser who names the reporter to others ("everyone, this is
Kim Park") can write the name with Cyrillic or Greek letters that look Latin: "Kіm Pаrk" with a
Cyrillic і and а, "ΚΙΜ ΡΑRΚ" in Greek capitals. The office reads the name; redaction and the
leak guard compared code points and saw another word. The checker here reads the output with
its own table of the lookalikes these tests use, independent of the code under test.
"""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

import pytest
from redaction_helpers import attached_texts, evidence, guard_finds, referral_of

from stopit_mail.app import App
from stopit_mail.outbound.redact import Traces

# Cyrillic, Greek and Armenian letters a reader takes for Latin ones, as the tests write them.
LOOKALIKE = {"а": "a", "і": "i", "р": "p", "К": "K", "к": "k", "Р": "P", "А": "A", "М": "M",
             "Κ": "K", "Ι": "I", "Μ": "M", "Ρ": "P", "Α": "A", "ο": "o", "օ": "o"}
SPELLINGS = {
    "cyrillic letters mixed in": "Hi Kіm Pаrk, everyone knows.",
    "greek capitals": "ΚΙΜ ΡΑRΚ, everyone knows.",
    "cyrillic capitals": "КIМ РАRК, everyone knows.",
    "an address": "write to kіm.pаrk@example.edu, everyone knows.",
}


def _read(text: str) -> str:
    return "".join(LOOKALIKE.get(ch, ch) for ch in text).casefold()


@pytest.mark.parametrize("how", list(SPELLINGS))
def test_a_name_in_lookalike_letters_is_scrubbed_from_a_referral(app: App, how: str) -> None:
    out = referral_of(app, evidence(SPELLINGS[how], f"<p>{SPELLINGS[how]}</p>"))
    message = BytesParser(policy=policy.default).parsebytes(out)
    shown = _read("\n".join(str(v) for part in message.walk() for _k, v in part.items()) + "\n".join(
        part.get_content() for part in message.walk() if part.get_content_maintype() == "text"))  # type: ignore[attr-defined]
    shown += _read("\n".join(attached_texts(out)))
    assert "everyone knows" in shown
    for trace in ("kim", "park"):
        assert not re.search(rf"(?<![^\W_]){trace}(?![^\W_])", shown), (how, trace)


@pytest.mark.parametrize("how", list(SPELLINGS))
def test_the_guard_refuses_a_name_in_lookalike_letters(how: str) -> None:
    assert guard_finds("note.txt", "text/plain", SPELLINGS[how].encode())


def test_a_capital_i_lookalike_reads_as_i_and_other_scripts_stay_as_written() -> None:
    traces = Traces()
    traces.add_name("Irina Lill")
    assert traces.scrub("Ιrina and ІRINA came; Lіll too") == "[reporter] and [reporter] came; [reporter] too"
    assert traces.scrub("Привет, как дела? Καλημέρα") == "Привет, как дела? Καλημέρα"
