"""Raw headers pasted into a report ("Show original") are shown to staff as the mail client
showed them: encoded-words decoded, a folded From joined, and the paste's own reading of the
subject, date and body kept on the forward its From/Date/Subject lines also made.

The paste below is shaped like spamscope's mail_test_17 (Apache-2.0, SpamScope/mail-parser
tests/mails/mail_test_17): a bank phish whose From name is an encoded address folded onto a
second line, and whose Subject is an encoded-word, under an IronPort field that a forward's
header block cannot read past.
"""

from __future__ import annotations

from stopit_mail.extract.evidence import extract_evidence
from stopit_mail.extract.forwards import find_inline_forwards

PASTE = """\
Received: from apiron13.triara.com (apiron13.triara.com [200.57.129.98])
 by mx.school.example (Postfix) with ESMTPS id 4F2A1
 for <kim@school.example>; Mon, 10 Oct 2022 20:11:35 +0000
Date: Mon, 10 Oct 2022 20:11:32 +0000
Message-ID: <a1b2c3@banco.example>
To: kim@school.example
From: =?UTF-8?B?bm90aWZpY2FjY2lvbi1jbGllbnRlc0BiYnZhLm14?=
\t<notificaciones@banco.example>
X-IronPort-AV: E=Sophos;i="5.95,173,1661835600";
   d="html'217?zip'217,48?scan'217,48,208,48,217";a="1030153556"
Subject: =?UTF-8?B?VHJhbnNmZXJlbmNpYSBJbnRlcmJhbmNhcmlhIEJhbmNhIGVuIEzDrW5lYQ==?=
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Su transferencia fue rechazada. Confirme sus datos en el enlace.
"""


def _report(body: str) -> bytes:
    return ("From: Kim <kim@school.example>\r\nTo: report@stopit.example\r\nSubject: Fwd: Transferencia\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Got this today, the full headers are below.\r\n\r\n" + body).replace("\r\n", "\n").replace(
                "\n", "\r\n").encode()


def test_pasted_raw_headers_give_one_decoded_message() -> None:
    messages = [item for item in extract_evidence(_report(PASTE)).items if item.is_message]
    assert len(messages) == 1
    item = messages[0]
    assert item.from_address == "notificaciones@banco.example"
    assert item.subject == "Transferencia Interbancaria Banca en Línea"
    assert item.date == "Mon, 10 Oct 2022 20:11:32 +0000"
    assert item.body_text == "Su transferencia fue rechazada. Confirme sus datos en el enlace."
    assert item.header_block and "X-IronPort-AV" in item.header_block


def test_a_forward_printing_encoded_words_is_decoded() -> None:
    body = ("---------- Forwarded message ---------\n"
            "From: =?UTF-8?B?0YHQu9GD0LbQsdCwINCk0J3QoQ==?= <suvorov@nalog.example>\n"
            "Date: Tue, 3 Sep 2019 10:00:00 +0300\n"
            "Subject: =?UTF-8?B?0L/QuNGB0YzQvNC+INGD0LLQtdC00L7QvC3QtQ==?=\n"
            "To: kim@school.example\n\nPay now.\n")
    forward = find_inline_forwards(body, "Fwd: x")[0]
    assert forward.from_ is not None
    assert (forward.from_.name, forward.from_.address) == ("служба ФНС", "suvorov@nalog.example")
    assert forward.subject == "письмо уведом-е"


def test_subjects_without_encoded_words_are_kept_as_written() -> None:
    body = ("---------- Forwarded message ---------\nFrom: A <a@x.example>\n"
            "Subject: price  =?  two  spaces\nTo: kim@school.example\n\nhi\n")
    assert find_inline_forwards(body, "Fwd: x")[0].subject == "price  =?  two  spaces"


# Thunderbird's header section of a message that never crossed a relay (a Sent item, a saved
# draft): no Received, no DKIM, one Message-Id. Verbatim from mailgun/talon (Apache-2.0)
# tests/fixtures/standard_replies/thunderbird.eml (corpus: forwards/negative-replies/talon/).
UNRELAYED = """\
MIME-Version: 1.0
Message-Id: <4F79B73C.9030506@xxx.mailgun.org>
Date: Mon, 02 Apr 2012 18:27:08 +0400
From: bob <bob@xxx.mailgun.org>
User-Agent: Mozilla/5.0 (X11; U; Linux i686; en-US;
 rv:1.9.2.28) Gecko/20120313 Thunderbird/3.1.20
To: Megan One <xxx@gmail.com>
Subject: Re: Test
Sender: bob@xxx.mailgun.org
Content-Type: text/plain; charset="us-ascii"; format="flowed"
Content-Transfer-Encoding: 7bit

Hello
"""


def test_a_raw_header_section_without_trace_fields_is_pasted_headers() -> None:
    # Before, only a Received field or two trace fields made a paste: this one was no evidence
    # at all (no forward separator either), and the report had no offending message.
    messages = [item for item in extract_evidence(_report(UNRELAYED)).items if item.is_message]
    assert [(m.kind, m.completeness.value) for m in messages] == [("pasted-headers", "headers")]
    item = messages[0]
    assert (item.from_address, item.subject, item.date) == (
        "bob@xxx.mailgun.org", "Re: Test", "Mon, 02 Apr 2012 18:27:08 +0400")
    assert item.body_text == "Hello"
    assert item.header_block and "User-Agent: Mozilla/5.0" in item.header_block


def test_a_dateless_source_with_three_source_fields_is_pasted_headers() -> None:
    # A message without Date (Mailgun's API sends such): From with three fields no client prints.
    paste = ("Subject: Test\nFrom: me@example.com\nTo: you@example.com\nMIME-Version: 1.0\n"
             "Content-Type: text/plain\nX-Mailgun-Tag: tag\n\nHello\n")
    messages = [item for item in extract_evidence(_report(paste)).items if item.is_message]
    # Its From/Subject lines under a "Fwd:" subject also read as a forward, which the paste upgrades.
    assert [(m.completeness.value, m.from_address) for m in messages] == [("headers", "me@example.com")]
    assert messages[0].header_block and "X-Mailgun-Tag: tag" in messages[0].header_block


def test_a_forward_summary_with_one_machine_field_is_still_a_forward() -> None:
    # A client's summary (From/Sent/To/Subject) plus one stray field is not a message's source.
    body = ("-----Original Message-----\nFrom: Bob <bob@x.example>\nSent: Mon, 3 Apr 2023 10:12:00 +0000\n"
            "To: kim@school.example\nSubject: hi\nImportance: High\nContent-Type: text/plain\n\nbody\n")
    messages = [item for item in extract_evidence(_report(body)).items if item.is_message]
    assert [(m.kind, m.completeness.value) for m in messages] == [("inline-forward", "summary")]


def test_a_pasted_source_without_subject_keeps_none_not_the_reports() -> None:
    # The shape of SpamAssassin's mime3 (Apache-2.0, corpus received/spamassassin/nice/mime3): a
    # 1991 invitation with no Subject field. Its From/Date lines also read as a forward, which
    # borrowed the report's own subject ("harassment") and kept it over the paste's lack of one.
    paste = ("Received: from thumper.bellcore.com by hanna.cac.washington.edu\n"
             "\t(5.65/UW-NDC Revision: 2.23 ) id AA19372; Thu, 3 Oct 91 13:03:25 -0700\n"
             "Date: Thu, 19 Sep 91 12:41:43 EDT\nFrom: nsb@thumper.bellcore.com (Nathaniel Borenstein)\n"
             "Message-Id: <9109191641.AA12840@greenbush.bellcore.com>\nTo: abel@thumper.bellcore.com\n\n"
             "You are invited to a party.\n")
    report = _report(paste).replace(b"Subject: Fwd: Transferencia", b"Subject: Fwd: harassment")
    messages = [item for item in extract_evidence(report).items if item.is_message]
    assert [(m.from_address, m.subject, m.completeness.value) for m in messages] == [
        ("nsb@thumper.bellcore.com", None, "headers")]


def test_a_forward_subject_stays_when_the_paste_below_it_stops_before_subject() -> None:
    # The forward printed the subject; the reporter pasted only the top of the headers.
    body = ("---------- Forwarded message ---------\nFrom: Bob <bob@x.example>\n"
            "Date: Mon, 3 Apr 2023 10:12:00 +0000\nSubject: you will regret this\nTo: <kim@school.example>\n\n"
            "body\n\nheaders:\nReceived: from a.example by mx.school.example; Mon, 3 Apr 2023 10:12:01 +0000\n"
            "From: Bob <bob@x.example>\nDate: Mon, 3 Apr 2023 10:12:00 +0000\n")
    messages = [item for item in extract_evidence(_report(body)).items if item.is_message]
    assert [(m.subject, m.completeness.value) for m in messages] == [("you will regret this", "headers")]
