"""The staff CLI, end to end through click's runner on a real SQLite installation."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from stopit_mail.cli import main
from stopit_mail.textsafe import terminal_safe

from conftest import EXAMPLES, offline_dns


@pytest.fixture
def home(tmp_path: Path) -> Path:
    result = CliRunner().invoke(main, ["init", str(tmp_path), "--mailbox", "stopit@example.edu"])
    assert result.exit_code == 0, result.output
    offline_dns(tmp_path / "stopit.toml")
    return tmp_path / "stopit.toml"


def run(config: Path, *args: str, input: bytes | None = None) -> str:
    result = CliRunner().invoke(main, ["-c", str(config), *args], input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_init_writes_config_and_database(home: Path) -> None:
    assert "[[organisations]]" in home.read_text()
    assert (home.parent / "data" / "stopit.db").exists()


def test_ingest_list_show_and_raw(home: Path, tmp_path: Path) -> None:
    out = run(home, "ingest", str(EXAMPLES))
    assert out.startswith("stored 3, processed 3, duplicates 0, quarantined 0")
    cases = json.loads(run(home, "cases", "list", "--json"))
    assert len(cases) == 3
    numbers = {c["title"]: c["number"] for c in cases}
    number = numbers["you'll regret this"]
    detail = json.loads(run(home, "cases", "show", number, "--json"))
    assert detail["evidence"][0]["completeness"] == "full"
    table = run(home, "cases", "show", number)
    assert number in table and "shadow.fox@freemail.example" in table
    raw_id = detail["reports"][0]["raw_message_id"]
    out_file = tmp_path / "raw.eml"
    run(home, "cases", "show", number, "--raw", str(raw_id), "-o", str(out_file))
    assert out_file.read_bytes() == (EXAMPLES / "01-attached-original.eml").read_bytes()
    assert "regret" in run(home, "cases", "list", "--text", "REGRET")
    assert json.loads(run(home, "cases", "list", "--json", "--text", "no-such-words")) == []
    assert len(json.loads(run(home, "cases", "list", "--json", "--status", "triaged", "--since", "1d"))) == 3
    assert json.loads(run(home, "cases", "list", "--json", "--status", "closed")) == []


def test_ingest_from_stdin(home: Path) -> None:
    out = run(home, "ingest", "-", input=(EXAMPLES / "02-inline-forward.eml").read_bytes())
    assert "stored 1, processed 1" in out


def test_quarantine_list_show_retry(home: Path, tmp_path: Path) -> None:
    text = home.read_text().replace("max_message_bytes = 104857600", "max_message_bytes = 2048")
    home.write_text(text)
    big = tmp_path / "big.eml"
    big.write_bytes(b"From: a@example.org\r\nSubject: big one\r\n\r\n" + b"y" * 4000)
    assert "quarantined 1" in run(home, "ingest", str(big))
    listed = json.loads(run(home, "quarantine", "list", "--json"))
    # Never parsed (the size check came first), yet the view reads the subject from its head.
    assert [r["subject"] for r in listed] == ["big one"]
    assert "above limits.max_message_bytes" in listed[0]["reason"]
    shown = json.loads(run(home, "quarantine", "show", str(listed[0]["id"]), "--json"))
    assert shown["status"] == "quarantined" and shown["size"] == 4041
    home.write_text(text.replace("max_message_bytes = 2048", "max_message_bytes = 104857600"))
    assert "processed case SI-" in run(home, "quarantine", "retry", str(listed[0]["id"]))
    assert json.loads(run(home, "quarantine", "list", "--json")) == []


def test_config_mistakes_are_one_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "stopit.toml"
    config.write_text('[[organisations]]\nslug = "x"\nname = "X"\nmailboxes = ["nope"]\ncolour = 1\n')
    result = CliRunner().invoke(main, ["-c", str(config), "cases", "list"])
    assert result.exit_code == 1
    assert "organisations[0].colour: unknown key" in result.output


def test_unknown_case_is_a_clean_error(home: Path) -> None:
    result = CliRunner().invoke(main, ["-c", str(home), "cases", "show", "SI-1999-0001"])
    assert result.exit_code == 1 and "no case 'SI-1999-0001'" in result.output


def test_hostile_text_cannot_drive_the_terminal(home: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil.eml"
    evil.write_bytes(b"From: x@example.org\r\nTo: stopit@example.edu\r\n"
                     b"Subject: =?utf-8?q?hi=1B]0;pwned=07_[bold]markup[/bold]_=E2=80=AE?=\r\n\r\nbody\r\n")
    run(home, "ingest", str(evil))
    result = CliRunner().invoke(main, ["-c", str(home), "cases", "list"], env={"COLUMNS": "300"})
    out = result.output
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b" in out and "[bold]markup[/bold]" in out


def test_every_bidirectional_control_is_shown_escaped() -> None:
    """Each character Unicode classes as a bidi embedding, override, isolate or mark (the Arabic
    letter mark U+061C was missed) is made visible, so no report reorders what staff read."""
    controls = [chr(c) for c in range(0x110000) if unicodedata.bidirectional(chr(c)) in
                ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")] + ["\u200e", "\u200f", "\u061c"]
    assert [hex(ord(c)) for c in controls if terminal_safe(c) == c] == []


def test_json_output_cannot_drive_the_terminal_and_keeps_the_data(home: Path, tmp_path: Path) -> None:
    """--json wrote a report's bidi override and C1 controls (U+009B is a one-character CSI) raw to
    the terminal; they are now \\u escapes: the same JSON to a parser."""
    evil = tmp_path / "evil.eml"
    evil.write_bytes(b"From: x@example.org\r\nTo: stopit@example.edu\r\n"
                     b"Subject: =?utf-8?q?hi_=C2=9B31m_=E2=80=AEgnp.exe_=D1=84?=\r\n\r\nbody\r\n")
    run(home, "ingest", str(evil))
    listed = run(home, "cases", "list", "--json")
    shown = run(home, "cases", "show", json.loads(listed)[0]["number"], "--json")
    for out in (listed, shown):
        assert "\u202e" not in out and "\x9b" not in out and "\u0444" in out  # Cyrillic stays readable
        assert "\\u202e" in out and "\\u009b" in out
    assert json.loads(listed)[0]["title"] == "hi \x9b31m \u202egnp.exe \u0444"


def test_show_prints_the_reporters_words_and_the_evidence_text(home: Path) -> None:
    run(home, "ingest", str(EXAMPLES))
    cases = {c["title"]: c["number"] for c in json.loads(run(home, "cases", "list", "--json"))}
    shown = run(home, "cases", "show", cases["you'll regret this"])
    # The reporter's own words, then the offending message's words, both in plain output.
    assert "I keep getting messages like the one attached" in shown
    assert "Delete your account or you'll regret it." in shown
    assert "completeness: full" in shown and "verification:" in shown
    assert shown.index("What the reporter wrote") < shown.index("Evidence (1)") < shown.index("Timeline")


def test_show_accepts_the_tail_of_a_number_and_refuses_to_guess(home: Path) -> None:
    run(home, "ingest", str(EXAMPLES))
    number = json.loads(run(home, "cases", "list", "--json"))[-1]["number"]  # the oldest: ...-0001
    assert number.endswith("-0001")
    assert number in run(home, "cases", "show", "1")
    assert number in run(home, "cases", "show", number.split("-", 1)[1])
    missing = CliRunner().invoke(main, ["-c", str(home), "cases", "show", "999"])
    assert missing.exit_code == 1 and "no case '999'" in missing.output


def test_list_filters_and_says_how_many_in_all(home: Path) -> None:
    run(home, "ingest", str(EXAMPLES))
    out = run(home, "cases", "list", "--limit", "2")
    assert "showing 1-2 of 3; next: --page 2" in out
    assert "showing 3-3 of 3" in run(home, "cases", "list", "--limit", "2", "--page", "2")
    urgent = json.loads(run(home, "cases", "list", "--json", "--urgency", "urgent"))
    assert urgent and all(c["urgency"] == "urgent" for c in urgent)
    threats = json.loads(run(home, "cases", "list", "--json", "--category", "threats-of-violence"))
    assert threats and all("threats-of-violence" in c["categories"] for c in threats)
    fox = json.loads(run(home, "cases", "list", "--json", "--offender", "SHADOW.FOX"))
    assert [c["title"] for c in fox] == ["you'll regret this"]
    assert json.loads(run(home, "cases", "list", "--json", "--assignee", "nobody")) == []
    assert len(json.loads(run(home, "cases", "list", "--json", "--since", "5m"))) == 3
