"""HTML to text against a bare html.parser pass over the same document, in one run.

Extraction reads every HTML body (Outlook's tag-dense forwards, newsletters of a few MB), so
its cost is measured against the cheapest thing that reads HTML at all: `HTMLParser().feed`
with no handlers. The cut was about 1.3 times that pass while it was built on html.parser;
the goal is under 0.75. Also prints the cost of a tag that never closes (which was
quadratic) against ordinary markup of the same length.

    python bench/htmltext.py [ROWS]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from html.parser import HTMLParser

from stopit_mail.extract.htmltext import html_to_text


def best(run: Callable[[], object], rounds: int = 5) -> float:
    """The fastest of a few runs: what the code costs when nothing else interrupts it."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def outlook_like(rows: int) -> str:
    return "<html><body>" + "".join(
        f'<div class="MsoNormal"><p style="margin:0">Line {i} of the <b>message</b>, &amp; more '
        f'<a href="https://x.example/{i}">link</a></p></div><table><tr><td>a</td><td>b</td></tr></table>'
        for i in range(rows)) + "</body></html>"


def main(rows: int) -> None:
    doc = outlook_like(rows)
    bare = best(lambda: HTMLParser().feed(doc))
    ours = best(lambda: html_to_text(doc))
    print(f"document {len(doc) / 1e6:.2f} MB, tag-dense")
    print(f"bare HTMLParser.feed  {bare * 1e3:8.1f} ms  {len(doc) / bare / 1e6:5.2f} MB/s")
    print(f"html_to_text          {ours * 1e3:8.1f} ms  {len(doc) / ours / 1e6:5.2f} MB/s")
    print(f"ratio html_to_text / bare parse: {ours / bare:.2f} (goal < 0.75)")
    hostile = "<a b=" * (len(doc) // 5)
    unclosed = best(lambda: html_to_text(hostile), rounds=3)
    print(f"never-closing tag, same length: {unclosed * 1e3:.1f} ms ({unclosed / ours:.2f}x ordinary markup)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
