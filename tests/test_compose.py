"""The fast composing path writes exactly the bytes of the email package's modern policy."""

from __future__ import annotations

import pytest

from stopit_mail.outbound.compose import Attachment, Draft, _compose_mime, _compose_plain, _headers, compose
from stopit_mail.outbound.render import make_environment, render

ACK = render(make_environment(), "reporter/acknowledgement.txt.j2", organisation="Example University",
             case_number="SI-2026-0042", reporter_code="k7qd-9m2x-pa3w", case_address="stopit+k7qd9m2xpa3w@example.edu",
             emergency_numbers=["911"], needs_headers=True, urgency="emergency")

DRAFTS = {
    "acknowledgement": Draft(from_address="stopit+k7qd9m2xpa3w@example.edu", from_name="Example University stopit",
                             to=["reporter1@example.org"], subject=ACK.subject, body=ACK.body,
                             reply_to="stopit+k7qd9m2xpa3w@example.edu", in_reply_to="<r-1@example.org>",
                             references=["<r-1@example.org>"]),
    "two recipients, extra headers": Draft(from_address="stopit@example.edu", from_name="", to=[
        "a@example.edu", "b@example.edu"], subject="EMERGENCY", body="Call now.\n\nLine two\n",
        extra_headers={"Importance": "high", "X-Priority": "1 (Highest)"}),
    "no trailing newline": Draft(from_address="x@example.edu", to=["y@example.org"], subject="s", body="one line"),
}
FALLBACK = {
    "long subject": Draft(from_address="x@example.edu", to=["y@example.org"], subject="word " * 30, body="b\n"),
    "non-ASCII body": Draft(from_address="x@example.edu", to=["y@example.org"], subject="s", body="¿Estás bien?\n"),
    "quoted name": Draft(from_address="x@example.edu", from_name="Doe, J.", to=["y@example.org"], subject="s",
                         body="b\n"),
    "attachment": Draft(from_address="x@example.edu", to=["y@example.org"], subject="s", body="b\n",
                        attachments=[Attachment("a.txt", "text/plain", b"hi")]),
    "empty body": Draft(from_address="x@example.edu", to=["y@example.org"], subject="s", body=""),
}


@pytest.mark.parametrize("name", sorted(DRAFTS))
def test_the_plain_path_gives_the_same_bytes(name: str) -> None:
    draft = DRAFTS[name]
    headers = _headers(draft, "<m-1@example.edu>")
    fast = _compose_plain(draft, headers)
    assert fast is not None
    assert fast == _compose_mime(draft, headers)


@pytest.mark.parametrize("name", sorted(FALLBACK))
def test_anything_else_goes_through_the_email_package(name: str) -> None:
    draft = FALLBACK[name]
    assert _compose_plain(draft, _headers(draft, "<m-1@example.edu>")) is None
    assert compose(draft, "<m-1@example.edu>").startswith(b"From: ")
