"""The plain tables of `cases list`, `cases search` and `stats`: fitted to the screen, safe to print."""

from __future__ import annotations

from stopit_mail.commands.columns import cells, cut, table

ROWS = [("SI-2026-1000000", "10-31 23:56", "offender24629@mail88.example", "Crying message laugh rumour teacher"),
        ("SI-2026-0042", "01-02 08:00", "ana@example.edu", "短い題名ですがとても長いタイトルになります")]


def test_rows_fit_the_screen_and_only_the_shrinkable_columns_give_way() -> None:
    for width in (60, 80, 120):
        lines = table(("case", "opened", "sender", "title"), ROWS, shrink=(2, 3), width=width).splitlines()
        assert all(cells(line) <= width for line in lines), width
        # The number is what staff type next: never cut.
        assert "SI-2026-1000000" in lines[2] and lines[3].startswith("SI-2026-0042 ")
    narrow = table(("case", "opened", "sender", "title"), ROWS, shrink=(2, 3), width=60)
    assert "…" in narrow and "offender24629@mail88.example" not in narrow
    wide = table(("case", "opened", "sender", "title"), ROWS, shrink=(2, 3), width=200)
    assert "offender24629@mail88.example" in wide and "…" not in wide


def test_wide_characters_count_two_columns() -> None:
    assert cells("タイトル") == 8 and cells("title") == 5
    assert cut("タイトルです", 7) == "タイト…" and cells(cut("タイトルです", 7)) <= 7


def test_text_from_strangers_cannot_drive_the_terminal_or_break_a_row() -> None:
    shown = table(("case", "title"), [("SI-2026-0001", "evil\x1b]0;pwned\x07\nnext line\u202etxt.exe")], width=200)
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert len(shown.splitlines()) == 3  # header, rule, one row: the newline did not start a row


def test_figures_are_set_flush_right() -> None:
    lines = table(("year", "cases"), [("2025", "146,234"), ("2026", "1")], right=(1,), width=80).splitlines()
    assert lines[2].endswith("146,234") and lines[3].endswith("      1")
