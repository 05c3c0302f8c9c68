"""Pasted full headers: the header block a reporter copied into the body of a report.

The pastes below are written for these tests, in the shapes that Gmail's "Show original",
Outlook's "Internet headers" pane and a forwarding mail client produce. The header fields in
them are real, copied from the shared corpus (Apache-2.0):
- GMAIL_HEADERS: mailgun/flanker tests/fixtures/messages/multi-received-headers.eml
  (corpus: received/flanker/multi-received-headers.eml), header section verbatim;
- OUTLOOK_RECEIVED: SpamScope/mail-parser tests/mails/mail_test_1
  (corpus: received/spamscope/mail_test_1.eml), its Received fields;
- AUTH_RESULTS: apache/spamassassin t/data/nice/authres (corpus: received/spamassassin/nice/authres),
  two of its Authentication-Results fields.
"""

from __future__ import annotations

import email.parser
import email.policy
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopit_mail.extract.pasted_headers import PastedHeaders, find_pasted_headers

GMAIL_HEADERS = """\
Delivered-To: example@example.com
Received: by 10.103.199.11 with SMTP id b11cs119577muq;
        Wed, 9 Feb 2011 00:55:38 -0800 (PST)
Return-Path: <rtkachen@gmail.com>
Received-SPF: pass (google.com: domain of hello@example.com designates 10.231.10.138 as permitted sender) client-ip=10.231.10.138;
Authentication-Results: mr.google.com; spf=pass (google.com: domain of hello@example.com designates 10.231.10.138 as permitted sender) smtp.mail=hello@example.com; dkim=pass header.i=hello@example.com
Received: from mr.google.com ([10.231.10.138])
        by 10.231.10.138 with SMTP id p10mr6874993ibp.177.1297241738002 (num_hops = 1);
        Wed, 09 Feb 2011 00:55:38 -0800 (PST)
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;
        d=gmail.com; s=gamma;
        h=domainkey-signature:mime-version:in-reply-to:references:date
         :message-id:subject:from:to:content-type;
        bh=IsMe+35DpJDsnmMMllZ7cvqpPZqojzM/X/MWU6RTr6A=;
        b=ZuoPnzHtAJ/EjqjhE5o72Iyu84UadQGEdRqKNbnw0SoU0EHD3ADknjwZ6pC1nrZKV+
         tX/Bz4ExVqXW9P1n5RlbUQgkiwgztvTz1TShm47UAVmyNynp1/GeGxiBgB359px9cwy9
         UlfbevPOZDBXRQlaqzlXa9YFFyP2WNkrrVzWY=
DomainKey-Signature: a=rsa-sha1; c=nofws;
        d=gmail.com; s=gamma;
        h=mime-version:in-reply-to:references:date:message-id:subject:from:to
         :content-type;
        b=u5Xk19Eord/Q7Z2bLTowXNc6mQ4vQxYkXhj9FiHjo9W6ym/DoX+YZDSv7X0aL24ai7
         oRRnGCNt6brL0GsNZnSwjGDzacTHSwNxKlX1xk2QT2B5PjzX5mqN3KyUItOj1fC3X6+m
         WCHdMvsbTDxQqp/uDRfvThzWGSX3LPX2SDh4E=
MIME-Version: 1.0
Received: by 10.231.10.138 with SMTP id p10mr6874993ibp.177.1297241737993;
 Wed, 09 Feb 2011 00:55:37 -0800 (PST)
Received: by 10.231.195.131 with HTTP; Wed, 9 Feb 2011 00:55:37 -0800 (PST)
In-Reply-To: <AANLkTinUdYK2NpEiYCKGnCEp_OXKqst_bWNdBVHsfDVh@mail.gmail.com>
References: <AANLkTi=1ANR2FzeeQ-vK3-_ty0gUrOsAxMRYkob6CL-c@mail.gmail.com>
            <AANLkTinUdYK2NpEiYCKGnCEp_OXKqst_bWNdBVHsfDVh@mail.gmail.com>
Date: Wed, 9 Feb 2011 11:55:37 +0300
Message-ID: <AANLkTikbSvKnE9RjZLNrpupmNMKChv2Kz8qB3HAagmSw@mail.gmail.com>
Subject: Fwd: Please forward this email to me
From: Hello <hello@example.com>
To: example@example.com
Content-Type: multipart/alternative; boundary=00221532cee4fb1f3e049bd5a0f3"""

GMAIL_MESSAGE_ID = "<AANLkTikbSvKnE9RjZLNrpupmNMKChv2Kz8qB3HAagmSw@mail.gmail.com>"

GMAIL_SUMMARY = """\
Original Message
Message ID\t<AANLkTikbSvKnE9RjZLNrpupmNMKChv2Kz8qB3HAagmSw@mail.gmail.com>
Created at:\tWed, Feb 9, 2011 at 9:55 AM (Delivered after 1 seconds)
From:\tHello <hello@example.com>
To:\texample@example.com
Subject:\tFwd: Please forward this email to me
SPF:\tPASS with IP 10.231.10.138 Learn more
DKIM:\t'PASS' with domain gmail.com Learn more"""

GMAIL_BODY = """\
--00221532cee4fb1f3e049bd5a0f3
Content-Type: text/plain; charset=ISO-8859-1

You will regret this.
--00221532cee4fb1f3e049bd5a0f3--"""

OUTLOOK_RECEIVED = """\
Received: from DM6PR06MB4475.namprd06.prod.outlook.com (2603:10b6:207:3d::31)
 by BL0PR06MB4465.namprd06.prod.outlook.com with HTTPS id 12345 via
 BL0PR02CA0054.NAMPRD02.PROD.OUTLOOK.COM; Mon, 1 Oct 2018 09:49:22 +0000
Received: from DM3NAM03FT035.eop-NAM03.prod.protection.outlook.com
 (2a01:111:f400:7e49::205) by CY4PR0601CA0051.outlook.office365.com
 (2603:10b6:910:89::28) with Microsoft SMTP Server (version=TLS1_2,
 cipher=TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384) id 15.20.1185.23 via Frontend
 Transport; Mon, 1 Oct 2018 09:49:21 +0000
Received: from filter.hostedemail.com (10.5.19.248.rfc1918.com [10.5.19.248])
\tby smtprelay06.b.hostedemail.com (Postfix) with ESMTP id 2CC378D014
\tfor <kinney@noth.com>; Mon, 22 Aug 2016 14:22:58 +0000 (UTC)"""

AUTH_RESULTS = """\
Authentication-Results: authrestest1int;
    spf=pass smtp.mailfrom=bounce.example.org;
    dkim=pass header.i=@example.org;
    dkim=fail header.i=@another.signing.domain.example
Authentication-Results: authrestest2int; dmarc=none (p=none dis=none) header.from=ximian.com"""


def only(found: list[PastedHeaders]) -> PastedHeaders:
    assert len(found) == 1, found
    return found[0]


def values(block: PastedHeaders, name: str) -> list[str]:
    return [value for key, value in block.headers if key.lower() == name.lower()]


def squeezed(text: str) -> str:
    return " ".join(text.split())


def wrap(text: str, width: int = 72, keep_indent: bool = True) -> str:
    """Hard-wrap like a mail client: long lines break at a space, the rest loses its indent.

    Like real clients, a word longer than the line is not broken.
    """
    out = []
    for line in text.split("\n"):
        if not keep_indent and line[:1] in (" ", "\t"):
            line = line.strip()
        indent = len(line) - len(line.lstrip())
        while len(line) > width:
            cut = line.rfind(" ", indent + 1, width)
            if cut < 0:
                cut = line.find(" ", width)
            if cut < 0:
                break
            indent = 0
            out.append(line[:cut])
            line = line[cut:].lstrip()
        out.append(line)
    return "\n".join(out)


def parsed(block: PastedHeaders):
    return email.parser.HeaderParser(policy=email.policy.compat32).parsestr(block.header_block)


def test_gmail_show_original_with_summary_table_and_body():
    text = (f"Hi, here are the full headers as you asked:\n\n{GMAIL_SUMMARY}\n"
            f"Download Original\tCopy to clipboard\n\n{GMAIL_HEADERS}\n\n{GMAIL_BODY}\n")
    block = only(find_pasted_headers(text))
    assert block.headers[0] == ("Delivered-To", "example@example.com")
    assert len(values(block, "Received")) == 4
    assert values(block, "From") == ["Hello <hello@example.com>"]
    assert values(block, "Message-ID") == [GMAIL_MESSAGE_ID]
    assert block.start_offset == text.index("Delivered-To:")
    assert block.body_after == GMAIL_BODY
    assert block.header_block.endswith("\r\n") and "\n" not in block.header_block.replace("\r\n", "")
    assert block.header_block == GMAIL_HEADERS.replace("\n", "\r\n") + "\r\n"
    message = parsed(block)
    assert len(message.get_all("Received")) == 4
    assert message["Message-ID"] == GMAIL_MESSAGE_ID


def test_gmail_summary_pasted_right_above_the_headers_is_dropped():
    text = f"{GMAIL_SUMMARY}\n{GMAIL_HEADERS}\n"
    block = only(find_pasted_headers(text))
    assert [name for name, _ in block.headers][:2] == ["Delivered-To", "Received"]
    assert not values(block, "SPF") and not values(block, "DKIM")
    assert block.start_offset == text.index("Delivered-To:")


def test_unfolded_values_keep_the_folding_whitespace():
    block = only(find_pasted_headers(GMAIL_HEADERS))
    assert values(block, "Received")[0] == "by 10.103.199.11 with SMTP id b11cs119577muq;        Wed, 9 Feb 2011 00:55:38 -0800 (PST)"


OUTLOOK_PANE = (
    "Here are the internet headers from Outlook:\n\n"
    + OUTLOOK_RECEIVED.split("\nReceived: from filter")[0] + "\n\n"
    + AUTH_RESULTS + "\n"
    + "X-MS-Exchange-Organization-AuthAs: Anonymous\n\n"
    + "Received: from filter" + OUTLOOK_RECEIVED.split("\nReceived: from filter")[1] + "\n"
    + "From: =?UTF-8?B?0YHQu9GD0LbQsdCw?= <suvorov.s@nalg.ru>\nTo: kinney@noth.com\n"
    + "Date: Mon, 22 Aug 2016 17:22:52 +0300\nMessage-ID: <20160822142252.1@nalg.ru>\n"
    + "\nNote: this is the third one this week.\nAlice\n"
)


def test_outlook_internet_headers_pane_with_blank_lines():
    block = only(find_pasted_headers(OUTLOOK_PANE))
    received = values(block, "Received")
    assert len(received) == 3
    assert received[0].startswith("from DM6PR06MB4475.namprd06.prod.outlook.com (2603:10b6:207:3d::31)")
    assert received[2].endswith("Mon, 22 Aug 2016 14:22:58 +0000 (UTC)")
    assert len(values(block, "Authentication-Results")) == 2
    assert values(block, "Message-ID") == ["<20160822142252.1@nalg.ru>"]
    assert "\r\n\r\n" not in block.header_block
    # The reporter's own words after the block are not headers, though shaped like one.
    assert block.body_after == "Note: this is the third one this week.\nAlice"
    assert len(parsed(block).get_all("Received")) == 3


def test_quoted_paste():
    quoted = "\n".join("> " + line if line else ">" for line in GMAIL_HEADERS.split("\n"))
    text = f"Forwarding what Bob sent:\n\n{quoted}\n>\n> the message body\n\nthanks"
    block = only(find_pasted_headers(text))
    assert block.headers == only(find_pasted_headers(GMAIL_HEADERS)).headers
    assert block.start_offset == text.index("> Delivered-To:")
    assert block.body_after == "the message body\n\nthanks"


@pytest.mark.parametrize("keep_indent", [True, False])
def test_line_wrapped_paste_is_rejoined(keep_indent):
    original = only(find_pasted_headers(GMAIL_HEADERS))
    text = "See the headers below\n\n" + wrap(GMAIL_HEADERS, keep_indent=keep_indent) + "\n\nThanks"
    block = only(find_pasted_headers(text))
    assert [name for name, _ in block.headers] == [name for name, _ in original.headers]
    for (_, got), (_, want) in zip(block.headers, original.headers, strict=True):
        assert squeezed(got) == squeezed(want)
    assert block.problems and block.problems[0].startswith("rejoined")
    assert block.body_after == "Thanks"
    assert len(parsed(block).get_all("Received")) == 4


def test_line_wrapped_outlook_received_and_quoted():
    text = "\n".join("> " + line for line in wrap(OUTLOOK_RECEIVED + "\nFrom: a@b.example", 60, False).split("\n"))
    block = only(find_pasted_headers(text))
    want = [squeezed(v) for v in ["from DM6PR06MB4475.namprd06.prod.outlook.com (2603:10b6:207:3d::31) by "
                                  "BL0PR06MB4465.namprd06.prod.outlook.com with HTTPS id 12345 via "
                                  "BL0PR02CA0054.NAMPRD02.PROD.OUTLOOK.COM; Mon, 1 Oct 2018 09:49:22 +0000"]]
    assert [squeezed(v) for v in values(block, "Received")][:1] == want
    assert len(values(block, "Received")) == 3


def test_trace_fields_with_from_and_date_suffice_without_received():
    text = ("Return-Path: <bob@x.example>\nDKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s1;\n"
            "\tb=abc\nFrom: Bob <bob@x.example>\nDate: Mon, 3 Apr 2023 10:12:00 +0000\n"
            "Message-ID: <1@x.example>\n")
    block = only(find_pasted_headers(text))
    assert values(block, "Message-ID") == ["<1@x.example>"]
    assert block.body_after is None


def test_two_pasted_blocks():
    text = f"First one:\n{GMAIL_HEADERS}\n\nand the second:\n\n{OUTLOOK_RECEIVED}\n"
    first, second = find_pasted_headers(text)
    assert first.body_after == "and the second:"
    assert len(values(second, "Received")) == 3
    assert second.start_offset == text.index("Received: from DM6PR")


@pytest.mark.parametrize("text", [
    "Hi,\n\nFrom: my teacher\nI got a strange message yesterday. Can you help?\n",
    "Received: your letter, thanks.\nI will reply soon.\n",
    "---------- Forwarded message ---------\nFrom: Bob <bob@x.com>\nDate: Mon, Apr 3, 2023\n"
    "Subject: hi\nTo: <me@y.com>\n\nbody\n",
    "Note: bring a pen.\nTime: 10:00\nPlace: room 4\n",
    "Message-ID: <1@x>\nFrom: a@b\n",
    "",
])
def test_not_pasted_headers(text):
    assert find_pasted_headers(text) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from([
    "Received: from a by b; Mon", " by c", "\tfor <x>", "DKIM-Signature: v=1;", "b=QUJD", "", ">", "> Received: x;",
    "From: a@b", "Date: x", "Message-ID: <a@b>", "SPF:\tPASS", "X-A: b", "h=from:to", "\x00", "\r",
]), st.text(max_size=30)), max_size=60))
def test_never_raises(lines):
    text = "\n".join(lines)
    for block in find_pasted_headers(text):
        assert block.header_block.endswith("\r\n")
        assert 0 <= block.start_offset < len(text)


@given(st.text())
def test_arbitrary_text_never_raises(text):
    assert isinstance(find_pasted_headers(text), list)


@pytest.mark.parametrize("text", [
    "Received: from a by b;\n" * 200_000, "x" * 5_000_000, "\n" * 2_000_000, "A:" * 2_000_000,
    "Received: from a\n" + "b=QUJDRA\n" * 300_000,
])
@pytest.mark.serial  # timed: another test on the other core would skew it
def test_huge_input_is_fast(text):
    started = time.perf_counter()
    find_pasted_headers(text)
    assert time.perf_counter() - started < 8


# --- pasted into an HTML report (written for these tests) ---------------------------------------

def _html_report(body: str) -> bytes:
    from email.message import EmailMessage
    from email.policy import SMTP

    message = EmailMessage(policy=SMTP)
    message["From"], message["To"], message["Subject"] = "vic.tim@example.edu", "stopit@example.edu", "headers"
    message.set_content(body, subtype="html")
    return message.as_bytes()


_PASTE = [line for line in GMAIL_HEADERS.splitlines() if line]


@pytest.mark.parametrize("layout", ["outlook_paragraphs", "preformatted"])
def test_headers_pasted_into_an_html_report_are_one_block(layout: str) -> None:
    # Outlook desktop makes each pasted line a margin-less Word paragraph (class MsoNormal);
    # a <pre> paste keeps the lines and their folding only in the HTML's own line breaks.
    import html as html_module

    from stopit_mail.extract.evidence import extract_evidence

    if layout == "outlook_paragraphs":
        body = '<div class="WordSection1"><p class="MsoNormal">Headers below:<o:p></o:p></p>' + "".join(
            f'<p class="MsoNormal">{"&nbsp;" * (len(line) - len(line.lstrip()))}'
            f"{html_module.escape(line.strip())}<o:p></o:p></p>" for line in _PASTE) + "</div>"
    else:
        body = "<p>Headers below:</p><pre>" + html_module.escape("\n".join(_PASTE)) + "</pre>"
    items = [item for item in extract_evidence(_html_report(body)).items if item.kind == "pasted-headers"]
    as_text = find_pasted_headers("Headers below:\n\n" + "\n".join(_PASTE))
    assert len(items) == 1 and len(as_text) == 1
    def fields(block: str | None) -> list[tuple[str, str]]:
        parsed = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(block or "")
        return [(name, " ".join(str(value).split())) for name, value in parsed.items()]

    assert fields(items[0].header_block) == fields(as_text[0].header_block)  # the same fields, in order
    assert items[0].from_address == "hello@example.com"
