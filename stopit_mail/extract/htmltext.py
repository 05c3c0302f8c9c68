"""Turn HTML mail bodies into plain text with the line structure kept.

Forward separators and header blocks ("From: ... Sent: ...") sit on their own lines in the
HTML that Outlook and webmail send; the text must keep those line breaks for extraction to
find them. Scripts and styles are dropped, entities decoded.

Line breaks follow what a reader sees (the "required line breaks" of the HTML standard's
innerText): the edges of block elements ask for one line break, a paragraph for a blank line,
and runs of such requests collapse into the largest one, while each <br> is a line break of its
own. Yahoo writes each line of a forwarded header block as a <div>, Thunderbird as a table row:
a break at both edges of each made a blank line between "From:" and "To:", which ends a header
block, so the forwarded sender's date and recipients were lost. Word's paragraphs in Outlook
(class "MsoNormal", with no margin) are lines, not paragraphs: Outlook makes each line of
pasted headers one of them. Inside <pre> the text's own line breaks and indentation are kept
(headers pasted as preformatted text are folded with it).
"""

from __future__ import annotations

from html.parser import HTMLParser

_BLOCK_TAGS = {
    "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr",
    "table", "ul", "ol", "pre", "section", "article", "header", "footer",
}
_PARAGRAPH_TAGS = {"p"}
_SKIP_TAGS = {"script", "style", "head", "title"}
# Word's styles for paragraphs without a margin (Outlook writes every line as one of them).
_LINE_PARAGRAPH_CLASSES = ("msonormal", "msoplaintext", "msolistparagraph")
# Stands for a <pre> line's indentation until the spaces are collapsed (a private-use character).
_INDENT = "\ue000"


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skip_depth = 0
        self.wanted = 0  # line breaks asked for by block edges since the last text or <br>
        self.pre_depth = 0
        self.paragraph_breaks: list[int] = []  # what each open <p> asks for at its end

    def _want(self, breaks: int) -> None:
        self.wanted = max(self.wanted, breaks)

    def _flush(self) -> None:
        if self.wanted and self.chunks:
            self.chunks.append("\n" * self.wanted)
        self.wanted = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        elif tag == "br":
            self._flush()
            self.chunks.append("\n")
        elif tag in _BLOCK_TAGS:
            self._want(1)
            self.pre_depth += tag == "pre"
        elif tag in _PARAGRAPH_TAGS:
            classes = (dict(attrs).get("class") or "").lower()
            breaks = 1 if any(name in classes for name in _LINE_PARAGRAPH_CLASSES) else 2
            self.paragraph_breaks.append(breaks)
            self._want(breaks)
        elif tag in ("td", "th"):
            self.chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self.skip_depth:
            self.skip_depth -= 1
        elif tag in _BLOCK_TAGS:
            self._want(1)
            if tag == "pre" and self.pre_depth:
                self.pre_depth -= 1
        elif tag in _PARAGRAPH_TAGS:
            self._want(self.paragraph_breaks.pop() if self.paragraph_breaks else 2)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        self._flush()
        data = data.replace("\r", "")
        if not self.pre_depth:
            self.chunks.append(data.replace("\n", " "))
            return
        lines = data.split("\n")
        self.chunks.append("\n".join(
            [lines[0]] + [_INDENT + line.lstrip(" \t") if line[:1] in (" ", "\t") else line for line in lines[1:]]))


def html_to_text(html: str) -> str:
    """Readable text of an HTML document; never raises."""
    collector = _TextCollector()
    try:
        collector.feed(html)
        collector.close()
    except Exception:  # noqa: BLE001 - html.parser is lenient, but be sure
        pass
    lines = [" ".join(line.replace("\xa0", " ").split()).replace(_INDENT, " ")
             for line in "".join(collector.chunks).split("\n")]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()
