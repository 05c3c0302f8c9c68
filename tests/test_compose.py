"""The fast composing path writes exactly the bytes of the email package's modern policy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopit_mail.cases.acknowledgement import CLIENTS, render_acknowledgement
from stopit_mail.errors import HeaderInjection
from stopit_mail.outbound.compose import Attachment, Draft, _compose_mime, _compose_plain, _headers, compose
from stopit_mail.outbound.render import Rendered, make_environment, render

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
    # Before, these went through the email package (up to thirty times the cost): a header that
    # is not a short ASCII line is now folded by the policy alone, and the body encoded by the
    # function the content manager calls.
    "long subject": Draft(from_address="x@example.edu", to=["y@example.org"], subject="word " * 30, body="b\n"),
    "non-ASCII body": Draft(from_address="x@example.edu", to=["y@example.org"], subject="s", body="¿Estás bien?\n"),
    "quoted name": Draft(from_address="x@example.edu", from_name="Doe, J.", to=["y@example.org"], subject="s",
                         body="b\n"),
    "non-ASCII name and subject": Draft(from_address="stopit@example.edu", from_name="École Sainte-Marie stopit",
                                        to=["y@example.org"], subject="[SI-2026-0001] Hemos recibido tu denuncia ✓",
                                        body="Gracias.\n" * 3),
    "an encoded word typed as text": Draft(from_address="x@example.edu", to=["y@example.org"],
                                           subject="=?utf-8?q?caf=C3=A9?= and more", body="b\n"),
    "long lines, CR, tabs, trailing spaces": Draft(
        from_address="x@example.edu", to=["y@example.org"], subject="  spaced  ",
        body="a" * 1200 + "\r\nline with trailing space \n\ttab\rcarriage\n=equals= and ü " * 40),
    "sealed recipient list": Draft(from_address="x@example.edu", to=["undisclosed-recipients:;"], subject="s",
                                   body="ja: 受け取りました。\n" * 50),
}
FALLBACK = {
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


def _acknowledgements() -> list[tuple[str, Rendered]]:
    """Every shipped acknowledgement (each language, each headers-help, emergency or not)."""
    env = make_environment()
    found = []
    for language in ("en", "es"):
        for client in (None, *CLIENTS):
            for urgency in ("emergency", "routine"):
                found.append((f"{language}-{client}-{urgency}", render_acknowledgement(
                    env, language, client, organisation="Colegio Núñez", case_number="SI-2026-0042",
                    reporter_code="k7qd-9m2x-pa3w", case_address="stopit+k7qd9m2xpa3w@example.edu",
                    emergency_numbers=["112", "024"], needs_headers=True, urgency=urgency)))
    return found


@pytest.mark.parametrize(("name", "rendered"), _acknowledgements())
def test_every_acknowledgement_composes_to_the_email_package_bytes(name: str, rendered: Rendered) -> None:
    for from_name in ("Colegio Nunez stopit", "Colegio Núñez stopit"):
        draft = Draft(from_address="stopit+k7qd9m2xpa3w@example.edu", from_name=from_name, to=["r@example.org"],
                      subject=rendered.subject, body=rendered.body, reply_to="stopit+k7qd9m2xpa3w@example.edu",
                      in_reply_to="<r-1@example.org>", references=["<r-1@example.org>"])
        headers = _headers(draft, "<m-1@example.edu>")
        assert _compose_plain(draft, headers) == _compose_mime(draft, headers), name


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)


@settings(max_examples=150, deadline=None)
@given(subject=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=120),
       name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40), body=_TEXT)
def test_any_text_message_composes_to_the_email_package_bytes(subject: str, name: str, body: str) -> None:
    draft = Draft(from_address="stopit@example.edu", from_name=name, to=["y@example.org"], subject=subject,
                  body=body)
    try:
        headers = _headers(draft, "<m-1@example.edu>")
        expected = _compose_mime(draft, headers)
    except (HeaderInjection, ValueError, IndexError):
        return  # a value the email package itself refuses: not a message either path writes
    fast = _compose_plain(draft, headers)
    assert fast is None or fast == expected
    assert fast is not None or not body.encode().splitlines()
