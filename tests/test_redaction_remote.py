"""A harasser's tracking pixel never loads from an office's mail client.

Red team (non-negotiable 2). Read-receipt tools and mass-mail services put an image in HTML mail
whose address is unique to its recipient. The referral attached the harasser's HTML as it was:
the office's client fetched the pixel and told the harasser that their target's copy was opened
again, when and from where (that the reporter reported). The checker here parses the output with
the standard library's HTML parser and lists everything that would load when shown.
"""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser

from redaction_helpers import attached_texts, evidence, guard_finds, referral_of

from stopit_mail.app import App

MARKUP = ("<html><head><style>@import url(https://t.example/s.css); body{background:url('//t.example/b.png')}</style>"
          "<link rel=stylesheet href=https://t.example/x.css></head><body>"
          "<p>everyone knows what you did.</p>"
          '<img alt="a>b" src="https://t.example/open.gif?r=8f3a9c" width="1" height="1">'
          "<IMG SRC=&#104;ttps://t.example/o2.gif><table background=http://t.example/t.png><tr><td>x</td></tr></table>"
          '<img srcset="https://t.example/o3.gif 2x"><div style="background-image: url(https://t.example/o4.gif)">y</div>'
          '<img src="cid:logo@example.net"><a href="https://example.net/page">a link to click</a></body></html>')


class _Loads(HTMLParser):
    """Every URL a browser would fetch on display: loading attributes and CSS url()/@import."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "srcset", "background") or (name == "href" and tag == "link"):
                self.found.append(value or "")
            if name == "style":
                self.found += re.findall(r"url\(([^)]*)\)", value or "")

    def handle_data(self, data: str) -> None:
        self.found += re.findall(r"url\(([^)]*)\)|@import\s", data)


def _remote_loads(markup: str) -> list[str]:
    parser = _Loads()
    parser.feed(markup)
    return [u for u in parser.found if not re.match(r"""\s*['"]?\s*(cid:|data:|about:blank)""", u)]


def test_the_checker_sees_every_load_in_the_original() -> None:
    assert len(_remote_loads(MARKUP)) == 9


def test_a_tracking_pixel_in_the_evidence_is_inert_in_the_referral(app: App) -> None:
    out = referral_of(app, evidence("everyone knows what you did.", MARKUP))
    (html,) = attached_texts(out, "text/html")
    assert "everyone knows what you did." in html and 'href="https://example.net/page"' in html
    assert "open.gif?r=8f3a9c" in html  # the evidence keeps the address, which no longer loads
    assert _remote_loads(html) == []


def test_the_guard_refuses_html_that_would_load_from_outside() -> None:
    assert guard_finds("page.html", "text/html", MARKUP.encode())


def test_a_read_receipt_request_in_the_evidence_is_not_passed_to_an_office(app: App) -> None:
    """Outlook asks for (or sends unasked) the receipt a message requests when the office opens it."""
    requests = (b"Disposition-Notification-To: offender@example.net\nReturn-Receipt-To: offender@example.net\n"
                b"X-Confirm-Reading-To: offender@example.net\nSubject:")
    original = evidence("everyone knows what you did.").replace(b"Subject:", requests, 1)
    assert guard_finds("evidence.eml", "message/rfc822", original)
    message = BytesParser(policy=policy.default).parsebytes(referral_of(app, original))
    (attached,) = [BytesParser(policy=policy.default).parsebytes(part.get_payload(decode=True))  # type: ignore[arg-type]
                   for part in message.walk() if (part.get_filename() or "").endswith(".eml")]
    assert attached["From"] == "Some One <offender@example.net>"
    assert not {"disposition-notification-to", "return-receipt-to", "x-confirm-reading-to"} & {
        name.lower() for part in attached.walk() for name in part.keys()}
