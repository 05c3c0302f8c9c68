"""HTML bodies to text: the markup cut as html.parser cuts it, at a fraction of its cost."""

from __future__ import annotations

import time

import pytest

from stopit_mail.extract.htmltext import html_to_text


@pytest.mark.parametrize(("html", "text"), [
    # A quoted value may hold ">"; a quote not right after "=" is only a character: SpamAssassin's
    # mime9 (Apache-2.0, corpus rfc822/spamassassin/nice/mime9) forwards under this very tag.
    ("<a title='x > y'>link</a> after", "link after"),
    ('<DIV style=""background: " #cccccc\\?>----- Forwarded Message -----<BR>From: a@b.example</DIV>',
     "----- Forwarded Message -----\nFrom: a@b.example"),
    # Script and style run to their end tag: a "<div>" in a script string breaks no line.
    ("one<script>var s = '</div><div>';</script>two<style>p > b {}</style>three", "onetwothree"),
    ("<!-- <div>hidden</div> -->a<!DOCTYPE html><?xml x?>b</3>c</ div>d", "abc\nd"),
    ("<P CLASS=MsoNormal>From: a</P><P CLASS=MsoNormal>To: b</P><p>para</p>", "From: a\nTo: b\n\npara"),
    ("a<br/>b<br />c<div/>d", "a\nb\nc\nd"),
    ("x < 3 and a<b>&amp;</b>b &lt;tag&gt;", "x < 3 and a&b <tag>"),
    ("<pre>Received: from a\n    by b; Mon</pre>", "Received: from a\n by b; Mon"),
    ("<head><title>t</title></head><body>only this</body>", "only this"),
    # A tag that never closes is text, as far as it reaches; what follows it is read as usual.
    ('<a title="x>hello</a> <b>world</b><div>next', "<a title=\"x>hello world\nnext"),
    ("a <b c=d e<!-- gone", "a <b c=d e"),
    ("one <!x two <? three", "one <!x two <? three"),
])
def test_markup_is_cut_as_html_parser_cuts_it(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_big_tag_dense_html_reads_line_by_line() -> None:
    # Its speed against a bare html.parser pass is printed by bench/htmltext.py (a timed test
    # failed CI on a loaded machine); here, that a few hundred KB of Outlook markup reads right.
    doc = "<html><body>" + "".join(
        f'<div class="MsoNormal"><p style="margin:0">Line {i} of the <b>message</b>, &amp; more '
        f'<a href="https://x.example/{i}">link</a></p></div><table><tr><td>a</td><td>b</td></tr></table>'
        for i in range(3000)) + "</body></html>"
    text = html_to_text(doc)
    assert text.startswith("Line 0 of the message, & more link\n\na b\n\nLine 1 of")
    assert text.count("Line ") == 3000 and text.rstrip().endswith("Line 2999 of the message, & more link\n\na b")


@pytest.mark.parametrize("unit", ["<a b=", '<a b="', "<p x='", "<a ", "<!x", "</1"])
def test_tags_that_never_close_cost_no_more_than_ordinary_markup(unit: str) -> None:
    """A harasser's HTML of a tag opened 30,000 times and never closed: each "<" was tried as a
    tag again, scanning to the end (html.parser and the regular-expression cut alike), so
    150 KB took about a minute and the message stalled its worker until the time budget."""
    hostile = unit * (150_000 // len(unit))
    ordinary = "<div><span class='x'>word</span> text &amp; more</div>" * (len(hostile) // 52)

    def cost(html: str) -> float:
        start = time.process_time()
        text = html_to_text(html)
        assert text
        return time.process_time() - start

    assert cost(hostile) < 5 * cost(ordinary) + 0.05
