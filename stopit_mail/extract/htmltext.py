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

The markup is cut into tags and text by one regular expression rather than `html.parser`,
which reads about 1.5 MB of tag-dense mail HTML a second in Python; the cut is the same as its
own for mail (tags start with "<" and a letter, quoted attribute values may hold ">", comments,
declarations and processing instructions are dropped, script and style run to their end tag).
"""

from __future__ import annotations

import html as html_entities
import re

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


# One token: a start or end tag (group "tag", "end" set for an end tag, "attrs" the rest of a
# start tag, where a value quoted right after "=" may hold ">"; a quote elsewhere is a character,
# as in html.parser), a comment, declaration or processing instruction, or a bogus end tag
# ("</3>", dropped; "</ div>" ends a div). A "<" followed by anything else is text, as
# html.parser reads it.
_TOKEN = re.compile(
    r"<(?:(?P<end>/[\t\n\r\f ]*)?(?P<tag>[a-zA-Z][^\t\n\r\f />\x00]*)(?P<attrs>[^>=]*(?:=\s*(?:\"[^\"]*\"|'[^']*'|(?![\"']))[^>=]*)*)>"
    r"|!--.*?(?:--!?>|\Z)|![^>]*>|\?[^>]*>|/[^a-zA-Z>][^>]*>"
    r"|(?P<broken>(?:/[\t\n\r\f ]*)?[a-zA-Z]|[!?](?=[^>]*\Z)|/(?=[^a-zA-Z>][^>]*\Z)))", re.DOTALL)
# How far a tag that never closes reaches: its name and attributes up to the "=" of a value
# whose quote is never closed, or to the end. html.parser reads its "<" as text and tries again
# at the next "<"; every "<" inside that stretch (outside its quoted values) fails the same way
# after scanning as far, so "<a b=" repeated 40,000 times took minutes. The stretch is text.
_UNCLOSED = re.compile(
    r"(?:/[\t\n\r\f ]*)?[a-zA-Z][^\t\n\r\f />\x00]*[^>=]*(?:=\s*(?:\"[^\"]*\"|'[^']*'|(?![\"']))[^>=]*)*")
_CLASS = re.compile(r"""(?:^|[\s"'/])class\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
# Elements whose content is raw text up to their end tag (html.parser's CDATA_CONTENT_ELEMENTS).
_RAW_TEXT = {"script": re.compile(r"</script(?=[\t\n\r\f />])", re.IGNORECASE),
             "style": re.compile(r"</style(?=[\t\n\r\f />])", re.IGNORECASE)}


_MATTERS = _BLOCK_TAGS | _PARAGRAPH_TAGS | _SKIP_TAGS | {"br", "td", "th"}


def _class_of(attrs: str) -> str:
    match = _CLASS.search(attrs)
    return next((value for value in match.groups() if value is not None), "") if match else ""


class _TextCollector:
    def __init__(self) -> None:
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

    def handle_starttag(self, tag: str, attrs: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        elif tag == "br":
            self._flush()
            self.chunks.append("\n")
        elif tag in _BLOCK_TAGS:
            self._want(1)
            self.pre_depth += tag == "pre"
        elif tag in _PARAGRAPH_TAGS:
            classes = _class_of(attrs).lower()
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


    def text(self, pieces: list[str]) -> None:
        """The text between two tags that matter, entities decoded, when it is not skipped."""
        data = "".join(pieces)
        pieces.clear()
        if data and not self.skip_depth:
            self.handle_data(html_entities.unescape(data) if "&" in data else data)

    def feed(self, html: str) -> None:
        """Cut `html` into text and tags and collect the text.

        Tags that change nothing (<span>, <a>, <b>, <img>...) only join the text around them;
        that text is handled once, at the next tag that matters, which keeps the Python work
        per tag small. Inside <pre> text is handled at every tag, as html.parser handed it over."""
        position: int | None = 0
        while position is not None:
            position = self._feed_from(html, position)

    def _feed_from(self, html: str, position: int) -> int | None:
        """Collect from `position` to the end, or to the end of a script's or style's raw text or
        of a tag that never closes (returned: the scan starts again there, since a "<" inside it
        began no tag)."""
        pending: list[str] = []
        for match in _TOKEN.finditer(html, position):
            begin = match.start()
            if begin > position:
                pending.append(html[position:begin])
            position = match.end()
            if match.lastgroup == "broken":
                # No ">" closes it: "<" and the stretch it reaches are text (see _UNCLOSED); a
                # "<!", "<?" or "</" without a ">" after it means no tag follows at all.
                reach = _UNCLOSED.match(html, begin + 1)
                stop = max(reach.end(), position) if match.group("broken")[-1:].isalpha() and reach else len(html)
                comment = html.find("<!--", begin + 1, stop)  # a comment inside is still dropped
                stop = comment if comment > 0 else stop
                pending.append(html[begin:stop])
                self.text(pending)
                return stop if stop < len(html) else None
            end, tag, attrs = match.group(1, 2, 3)  # "end", "tag", "attrs"
            if tag is None or (tag := tag.lower()) not in _MATTERS:
                if self.pre_depth:
                    self.text(pending)
                continue  # a comment, declaration, processing instruction or inline tag
            self.text(pending)
            if end:
                self.handle_endtag(tag)
                continue
            self.handle_starttag(tag, attrs)
            if attrs.endswith("/"):
                self.handle_endtag(tag)  # <br/>, <div/>: a start tag and its end
            elif tag in _RAW_TEXT:
                closing = _RAW_TEXT[tag].search(html, position)
                stop = closing.start() if closing is not None else len(html)
                self.text([html[position:stop]])
                return stop if closing is not None else None
        pending.append(html[position:])
        self.text(pending)
        return None


def html_to_text(html: str) -> str:
    """Readable text of an HTML document; never raises."""
    collector = _TextCollector()
    try:
        collector.feed(html)
    except Exception:  # noqa: BLE001 - a bug here must not lose the report's text
        pass
    lines = [" ".join(line.replace("\xa0", " ").split()).replace(_INDENT, " ")
             for line in "".join(collector.chunks).split("\n")]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()
