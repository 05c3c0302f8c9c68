"""Plain-text tables for the everyday listings (`cases list`, `cases search`, `stats`).

These commands answer in well under a second through the service; drawing their tables with
rich cost more than the rest of the command (its import and its layout of 50 rows, about
75 ms of CPU, a third of the whole). A listing needs no more than columns cut to the
terminal's width, so it is laid out here; the case view keeps rich for its panels.
Cells are shown through `terminal_safe`: listings carry titles and names written by strangers.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from collections.abc import Sequence

from stopit_mail.textsafe import terminal_safe

GAP = "  "
ELLIPSIS = "…"
# The narrowest a shrinkable column gets before the row is allowed to run wider than the screen.
MIN_WIDTH = 8


def screen_width() -> int:
    """Columns of the terminal (COLUMNS wins, as in click and rich); 80 when not a terminal."""
    try:
        return max(20, int(os.environ["COLUMNS"]))
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return 80


def cells(text: str) -> int:
    """How many screen columns `text` takes (wide East Asian characters take two)."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def cut(text: str, width: int) -> str:
    """`text` in at most `width` columns, ending in … when it was longer."""
    if cells(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        size = cells(ch)
        if used + size > width - 1:
            break
        out.append(ch)
        used += size
    return "".join(out) + ELLIPSIS


def _fit(widths: list[int], shrink: Sequence[int], width: int) -> list[int]:
    """Narrow the widest of the `shrink` columns, a column at a time, until the row fits `width`."""
    widths = list(widths)
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
    while excess > 0 and shrink:
        index = max(shrink, key=lambda i: widths[i])
        if widths[index] <= MIN_WIDTH:
            break
        widths[index] -= 1
        excess -= 1
    return widths


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], shrink: Sequence[int] = (),
          right: Sequence[int] = (), width: int | None = None, title: str = "") -> str:
    """Rows under their headers, one line each, cut to the screen.

    `shrink` lists the columns (by index) that give way when the row is too wide (titles,
    names); the others (case numbers, dates) are never cut. `right`: columns of figures, set flush right.
    """
    text_rows = [[" ".join(terminal_safe(str(cell)).split()) for cell in row] for row in rows]
    widths = [max([cells(header), *(cells(row[i]) for row in text_rows)]) for i, header in enumerate(headers)]
    widths = _fit(widths, shrink, width or screen_width())

    def line(values: Sequence[str]) -> str:
        shown = [cut(value, widths[i]) for i, value in enumerate(values)]
        padded = [" " * (widths[i] - cells(v)) + v if i in right else v + " " * (widths[i] - cells(v))
                  for i, v in enumerate(shown)]
        return GAP.join(padded).rstrip()

    out = [title] if title else []
    out += [line(list(headers)), GAP.join("-" * w for w in widths)]
    out += [line(row) for row in text_rows]
    return "\n".join(out)
