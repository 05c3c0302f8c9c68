"""The client behind a sending server that is no catalogued provider: a school's own webmail, an
ISP's submission server. Its side's word is listed with the origin, never taken for it.

Fixtures: tests/fixtures/received/written/ (written for this project, see SOURCES.md there).
"""

from __future__ import annotations

from pathlib import Path

from stopit_mail.headers.trace import trace_message

WRITTEN = Path(__file__).parent / "fixtures" / "received" / "written"


def origin_of(name: str) -> dict[str, object]:
    return trace_message((WRITTEN / name).read_bytes()).origin.to_dict()


def test_the_webmail_client_behind_the_senders_own_server_is_listed_as_its_word() -> None:
    origin = origin_of("webmail_behind_own_server.txt")
    assert (origin["ip"], origin["confidence"]) == ("80.96.157.210", "confirmed")  # the sending server
    assert [(c["ip"], c["source"]) for c in origin["client_ips"]] == [  # type: ignore[union-attr]
        ("2a02:8070:a280:1e00:1c2b:3d4e:5f60:7182", "hop 3")]
    assert any("2a02:8070:a280:1e00:1c2b:3d4e:5f60:7182" in r and "not verified by us" in r
               for r in origin["reasons"])  # type: ignore[union-attr]


def test_the_home_address_behind_an_isp_submission_server_is_listed() -> None:
    origin = origin_of("isp_submission.txt")
    assert (origin["ip"], origin["confidence"]) == ("85.13.1.77", "confirmed")
    assert [c["ip"] for c in origin["client_ips"]] == ["81.2.69.142"]  # type: ignore[union-attr]


def test_hops_below_the_boundary_that_do_not_follow_on_name_no_client() -> None:
    # The made-up Gmail hop was "recorded by" our own MX, not by the real first external hop.
    origin = origin_of("forged_below_boundary.txt")
    assert origin["ip"] == "93.184.1.2" and origin["client_ips"] == []


def test_a_message_fetched_from_the_recipients_own_mailbox_is_traced_through_it() -> None:
    # fetchmail's "from dogma.slashnull.org by localhost with IMAP" names the recipient's own
    # mailbox server, not the sender: the origin is what that server recorded (real chain,
    # tests/fixtures/received/fetchmail.txt).
    trace = trace_message((WRITTEN.parent / "fetchmail.txt").read_bytes())
    assert (trace.origin.ip, trace.origin.confidence) == ("193.120.149.226", "confirmed")
    assert trace.origin.recorded_by == "dogma.slashnull.org"


def test_an_example_range_client_is_called_made_up_not_an_internal_machine() -> None:
    raw = (b"Received: from mail.example.net (mail.example.net [192.0.2.1])\r\n\tby mx.example.edu (Postfix)"
           b" with ESMTP id 1; Mon, 16 Nov 2026 21:14:09 +0000\r\nFrom: a@example.net\r\n\r\nx\r\n")
    origin = trace_message(raw).origin
    assert origin.confidence == "unknown" and "made up" in origin.explanation
    assert "inside the receiving network" not in origin.explanation
