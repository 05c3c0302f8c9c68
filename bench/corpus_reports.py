"""What extraction reads from reports built around every message of the shared corpus.

Each corpus message with a From is sent in as the reports people write: attached (message/rfc822,
base64 .eml), forwarded inline in the layouts of Gmail, Outlook, Apple Mail, Thunderbird and Yahoo
(plain and HTML), forwarded by a friend first (nested), and pasted as raw headers (with and without
its Received fields). Extraction is then checked against the message's own parse: the original's
sender, subject, date and the start of its body, and for a paste that it is read as headers.
Prints, per layout, how many messages came out wrong in each field, and the reports whose
extraction took over 0.5 s. Expect a handful of "from" misses: messages whose From has no domain
("From: Whomever") cannot be printed as a forward.

    python bench/corpus_reports.py [--corpus ../shared/corpus] [layout ...]
"""

from __future__ import annotations

import argparse
import base64
import html
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

from stopit_mail.extract import mime
from stopit_mail.extract.evidence import EvidenceItem, extract_evidence

_SKIPPED = {".json", ".yml", ".tsv", ".md", ".dat", ".key", ".pem", ".expected", ".private"}
_SKIPPED_FOLDERS = {"crisp", "flanker-canonicalization", "arc-test-suite"}
_KIM = "Kim Lee <kim.lee@example.edu>"
Original = dict[str, str]
Layout = Callable[[bytes, Original], bytes]
LAYOUTS: dict[str, Layout] = {}


def layout(func: Layout) -> Layout:
    LAYOUTS[func.__name__.replace("_", "-")] = func
    return func


def originals(corpus: Path) -> Iterator[tuple[Path, bytes, Original]]:
    """Every corpus message with a From address, with the fields its own parse reads."""
    for path in sorted(corpus.rglob("*")):
        if not path.is_file() or path.suffix in _SKIPPED or _SKIPPED_FOLDERS & set(path.parts):
            continue
        raw = path.read_bytes()
        message = mime.parse_bytes(raw).message
        senders = mime.addresses(message, "From")
        if not senders or not senders[0][1]:
            continue
        yield path, raw, {
            "name": senders[0][0], "address": senders[0][1].lower(),
            "subject": mime.header(message, "Subject"), "date": mime.header(message, "Date"),
            "body": mime.body_text(message, 20, 2000, []),
        }


def _report(subject: str, text: str, subtype: str = "plain") -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = _KIM, "stopit@example.edu", subject
    message.set_content(text, subtype=subtype)
    return message.as_bytes()


def _with_part(head: bytes, body: bytes) -> bytes:
    return (b"From: " + _KIM.encode() + b"\r\nTo: stopit@example.edu\r\nSubject: Fwd: look\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b19\"\r\n\r\n"
            b"--b19\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b19\r\n" + head + b"\r\n\r\n"
            + body + b"\r\n--b19--\r\n")


def _sender(original: Original) -> str:
    return f"{original['name']} <{original['address']}>" if original["name"] else original["address"]


@layout
def attached(raw: bytes, original: Original) -> bytes:
    return _with_part(b"Content-Type: message/rfc822", raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


@layout
def attached_eml(raw: bytes, original: Original) -> bytes:
    return _with_part(b"Content-Type: application/octet-stream; name=\"message.eml\"\r\n"
                      b"Content-Disposition: attachment; filename=\"message.eml\"\r\n"
                      b"Content-Transfer-Encoding: base64", base64.encodebytes(raw).replace(b"\n", b"\r\n"))


def _gmail_block(original: Original) -> str:
    return (f"---------- Forwarded message ---------\nFrom: {_sender(original)}\nDate: {original['date']}\n"
            f"Subject: {original['subject']}\nTo: {_KIM}\n\n\n{original['body']}")


# Inline layouts as the clients print them: (forwarding subject, body), filled from the original.
_INLINE = {
    "gmail": ("Fwd: {subject}", "look at this\n\n{gmail}"),
    "gmail-own-subject": ("Fwd: please help, this is the third one", "look at this\n\n{gmail}"),
    "outlook": ("FW: {subject}", "look at this\n\n-----Original Message-----\nFrom: {sender}\nSent: {date}\n"
                "To: {kim}\nSubject: {subject}\n\n{body}"),
    "outlook-de": ("WG: {subject}", "Schau mal\n\nVon: {sender}\nGesendet: Montag, 16. November 2026 10:32\n"
                   "An: {kim}\nBetreff: {subject}\n\n{body}"),
    "apple": ("Fwd: {subject}", "look at this\n\nBegin forwarded message:\n\nFrom: {sender}\nSubject: {subject}\n"
              "Date: {date}\nTo: {kim}\n\n{body}"),
    "thunderbird": ("Fwd: {subject}", "look at this\n\n\n-------- Forwarded Message --------\nSubject: \t{subject}\n"
                    "Date: \t{date}\nFrom: \t{sender}\nTo: \t{kim}\n\n\n\n{body}"),
    "yahoo": ("Fwd: {subject}", "\n\n----- Forwarded Message -----\nFrom: {sender}\nTo: {kim}\n"
              "Sent: Monday, November 16, 2026, 10:32:11 AM GMT+1\nSubject: {subject}\n\n{body}"),
}


def _inline(subject: str, body: str) -> Layout:
    def build(raw: bytes, original: Original) -> bytes:
        fields = dict(original, sender=_sender(original), kim=_KIM, gmail=_gmail_block(original))
        return _report(subject.format(**fields), body.format(**fields))
    return build


for _name, (_subject, _body) in _INLINE.items():
    LAYOUTS[_name] = _inline(_subject, _body)


@layout
def nested(raw: bytes, original: Original) -> bytes:
    return _report("FW: Fwd: " + original["subject"], (
        f"my friend got this\n\n-----Original Message-----\nFrom: Alex Friend <alex@example.org>\n"
        f"Sent: Monday, November 16, 2026 11:00 AM\nTo: {_KIM}\nSubject: Fwd: {original['subject']}\n\n"
        f"look\n\n{_gmail_block(original)}"))


@layout
def outlook_html(raw: bytes, original: Original) -> bytes:
    body = "".join(f'<p class="MsoNormal">{html.escape(line) or "&nbsp;"}<o:p></o:p></p>'
                   for line in original["body"].split("\n"))
    return _report("FW: " + original["subject"], (
        '<html><head><style>p.MsoNormal{margin:0cm}</style></head><body><div class="WordSection1">'
        '<p class="MsoNormal">look<o:p></o:p></p><div style="border:none;border-top:solid #E1E1E1 1.0pt">'
        f'<p class="MsoNormal"><b>From:</b> {html.escape(_sender(original))}<br><b>Sent:</b> Monday, '
        f'November 16, 2026 10:32 AM<br><b>To:</b> {html.escape(_KIM)}<br><b>Subject:</b> '
        f'{html.escape(original["subject"])}<o:p></o:p></p></div><p class="MsoNormal">&nbsp;</p>{body}</div>'
        '</body></html>'), "html")


def _header_section(raw: bytes) -> str:
    end = re.search(rb"\r?\n\r?\n", raw)
    return (raw[:end.start()] if end else raw).decode("utf-8", "replace").replace("\r\n", "\n")


@layout
def pasted(raw: bytes, original: Original) -> bytes:
    return _report("Fwd: harassment", f"Here are the full headers:\n\n{_header_section(raw)}\n\n{original['body']}")


@layout
def pasted_no_received(raw: bytes, original: Original) -> bytes:
    kept: list[str] = []
    dropping = False
    for line in _header_section(raw).split("\n"):
        if line[:1] not in (" ", "\t"):
            dropping = line.lower().startswith(("received:", "x-received:"))
        if not dropping:
            kept.append(line)
    return _report("Fwd: harassment", "Here are the full headers:\n\n" + "\n".join(kept) + f"\n\n{original['body']}")


def _squeezed(text: str | None) -> str:
    return " ".join((text or "").split()).lower()


def _picked(items: list[EvidenceItem], name: str) -> EvidenceItem | None:
    kinds = ("attached-message", "attached-eml") if name.startswith("attached") else ("inline-forward", "pasted-headers")
    found = [item for item in items if item.kind in kinds and item.from_address != "alex@example.org"]
    return found[0] if found else None


def wrong_fields(item: EvidenceItem | None, original: Original, name: str) -> list[str]:
    """The fields extraction got wrong, against the original's own parse."""
    if item is None:
        return ["missing"]
    wrong = []
    if name.startswith("pasted") and item.completeness.value != "headers":
        wrong.append("not-headers")
    if (item.from_address or "").lower() != original["address"]:
        wrong.append("from")
    if _squeezed(item.subject) != _squeezed(original["subject"]):
        wrong.append("subject")
    if original["date"] and not item.date:
        wrong.append("date")
    want, got = _squeezed(original["body"])[:200], _squeezed(item.body_text)[:200]
    if want and not got.startswith(want) and want[:60] not in got:
        wrong.append("body")
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus")
    parser.add_argument("layouts", nargs="*", help=f"layouts to run (default: all): {', '.join(LAYOUTS)}")
    args = parser.parse_args()
    unknown = sorted(set(args.layouts) - set(LAYOUTS))
    if unknown:
        parser.error(f"unknown layout(s): {', '.join(unknown)}")
    chosen = args.layouts or list(LAYOUTS)
    counts: Counter[tuple[str, str]] = Counter()
    slow: list[tuple[float, str, str]] = []
    total = 0
    for path, raw, original in originals(args.corpus):
        total += 1
        for name in chosen:
            report = LAYOUTS[name](raw, original)
            started = time.perf_counter()
            items = extract_evidence(report).items
            spent = time.perf_counter() - started
            if spent > 0.5:
                slow.append((spent, name, str(path.relative_to(args.corpus))))
            for field in wrong_fields(_picked(items, name), original, name):
                counts[(name, field)] += 1
    print(f"{total} corpus messages with a From, {len(chosen)} layouts")
    for name in chosen:
        wrong = {field: n for (layout_name, field), n in sorted(counts.items()) if layout_name == name}
        print(f"  {name:20} " + (", ".join(f"{field} {n}" for field, n in wrong.items()) or "all right"))
    for spent, name, where in sorted(slow, reverse=True)[:20]:
        print(f"  slow: {spent:.2f} s  {name}  {where}")


if __name__ == "__main__":
    main()
