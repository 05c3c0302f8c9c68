"""Tracing a Received chain: order, delays, trust, origin verdicts, anomalies, IP classes.

The chains below are written by us (realistic shapes, addresses from documentation
ranges where the class does not matter; 81.2.69.x stands in for a public sender
address). Real chains come from tests/fixtures/received and the shared corpus.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopit_mail.headers.ipclass import IP_CLASSES, classify_ip, normalise_ip
from stopit_mail.headers.trace import (
    ANOMALY_CODES,
    Trace,
    TrustedRelays,
    read_header_fields,
    registered_domain,
    trace_headers,
    trace_message,
)

from conftest import CORPUS

FIXTURES = Path(__file__).parent / "fixtures" / "received"
NOW = datetime(2024, 3, 6, tzinfo=UTC)

# Newest first, as in a message: our store, our MX, Gmail's submission server.
STORE = ("from mx.example.edu (mx.example.edu [192.0.2.10]) by mailstore.example.edu (Postfix) "
         "with LMTP id A1; Tue, 5 Mar 2024 10:00:05 +0000")
MX = ("from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) "
      "by mx.example.edu (Postfix) with ESMTPS id B2 for <victim@example.edu>; "
      "Tue, 5 Mar 2024 10:00:03 +0000")
SUBMIT = ("from [192.168.1.20] (cpe-81-2-69-160.example.net [81.2.69.160]) by smtp.gmail.com "
          "with ESMTPSA id c3sm123.2024.03.05.02.00.01 for <victim@example.edu> "
          "(version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256); "
          "Tue, 05 Mar 2024 02:00:01 -0800 (PST)")


def received(*values: str, extra: tuple[tuple[str, str], ...] = ()) -> list[tuple[str, str]]:
    return [("Received", v) for v in values] + list(extra)


def codes(trace: Trace) -> list[tuple[str, int | None]]:
    return [(a.code, a.hop_position) for a in trace.anomalies]


# --- Order and timing ------------------------------------------------------------------------


def test_hops_run_from_the_sender_with_delays_and_total() -> None:
    trace = trace_headers(received(STORE, MX, SUBMIT), now=NOW)
    assert [h.position for h in trace.hops] == [2, 1, 0]
    assert trace.delays == [None, timedelta(seconds=2), timedelta(seconds=2)]
    assert trace.total_transit == timedelta(seconds=4)


def test_missing_dates_leave_gaps_not_errors() -> None:
    dateless = "from a.example ([192.0.2.1]) by mx.example.edu with SMTP"
    trace = trace_headers(received(STORE, dateless, SUBMIT), now=NOW)
    assert trace.delays == [None, None, None]
    assert trace.total_transit == timedelta(seconds=4)
    assert ("missing-date", 1) in codes(trace)


# --- Trust and origin ------------------------------------------------------------------------


def test_without_configuration_the_top_hop_is_trusted_by_receipt() -> None:
    trace = trace_headers(received(STORE, MX, SUBMIT), now=NOW)
    assert trace.trust_mode == "receipt"
    # The store's client (192.0.2.10) is not public, so trust passes to the MX hop,
    # whose client is Google's public relay: that is the confirmed origin.
    assert trace.trusted == [False, True, True]
    origin = trace.origin
    assert (origin.ip, origin.ip_class, origin.confidence) == ("209.85.220.41", "public",
                                                               "confirmed")
    assert origin.host == "mail-sor-f41.google.com" and origin.recorded_by == "mx.example.edu"
    assert ("untrusted-hop", 2) in codes(trace)


def test_configured_relays_start_the_trusted_run() -> None:
    relays = TrustedRelays.from_strings(["192.0.2.0/24", "mx.example.edu"])
    trace = trace_headers(received(STORE, MX, SUBMIT), trusted=relays, now=NOW)
    assert trace.trust_mode == "configured" and trace.trusted == [False, True, True]
    assert trace.origin.ip == "209.85.220.41" and trace.origin.confidence == "confirmed"


def test_trusting_a_provider_reaches_the_sender_behind_it() -> None:
    relays = TrustedRelays.from_strings(["mx.example.edu", ".google.com"])
    trace = trace_headers(received(STORE, MX, SUBMIT), trusted=relays, now=NOW)
    assert trace.trusted == [True, True, True]
    origin = trace.origin
    assert (origin.ip, origin.confidence, origin.recorded_by) == (
        "81.2.69.160", "confirmed", "smtp.gmail.com")
    assert origin.helo == "[192.168.1.20]" and origin.host == "cpe-81-2-69-160.example.net"
    assert ("helo-ip-mismatch", 2) in codes(trace)
    assert not [c for c in codes(trace) if c[0] == "untrusted-hop"]


def test_helo_names_do_not_pass_trust_unless_asked() -> None:
    spoofed = ("from mail-sor-f41.google.com ([81.2.69.99]) by mx.example.edu (Postfix) with ESMTP"
               " id C3; Tue, 5 Mar 2024 10:00:03 +0000")
    forged_below = ("from [10.0.0.1] (evil.example [81.2.69.160]) by mail-sor-f41.google.com "
                    "with ESMTP; Tue, 5 Mar 2024 10:00:01 +0000")
    headers = received(spoofed, forged_below)
    strict = trace_headers(headers, TrustedRelays.from_strings(["mx.example.edu", ".google.com"]),
                           now=NOW)
    assert strict.origin.ip == "81.2.69.99" and strict.origin.confidence == "confirmed"
    lenient = trace_headers(
        headers, TrustedRelays.from_strings(["mx.example.edu", ".google.com"], trust_helo=True),
        now=NOW)
    assert lenient.origin.ip == "81.2.69.160"


def test_nothing_trusted_gives_a_claim_from_the_newest_public_hop() -> None:
    relays = TrustedRelays.from_strings(["mx.other.example"])
    trace = trace_headers(received(STORE, MX, SUBMIT), trusted=relays, now=NOW)
    assert trace.trusted == [False, False, False]
    assert trace.origin.confidence == "claimed" and trace.origin.ip == "209.85.220.41"
    assert "not trusted" in trace.origin.explanation


def test_webmail_headers_are_claims_not_facts() -> None:
    local = ("from webmail.example.edu (localhost [127.0.0.1]) by mx.example.edu (Postfix) "
             "with ESMTP id D4; Tue, 5 Mar 2024 10:00:00 +0000")
    headers = received(local, extra=(("X-Originating-IP", "[81.2.69.161]"),
                                     ("X-Forwarded-For", "10.1.2.3, 81.2.69.162"),
                                     ("Subject", "hi")))
    trace = trace_headers(headers, now=NOW)
    assert trace.origin.confidence == "claimed" and trace.origin.ip == "81.2.69.161"
    assert trace.origin.source == "X-Originating-IP"
    assert trace.originating_claims == [
        {"header": "X-Originating-IP", "value": "[81.2.69.161]",
         "ips": [{"ip": "81.2.69.161", "class": "public"}]},
        {"header": "X-Forwarded-For", "value": "10.1.2.3, 81.2.69.162",
         "ips": [{"ip": "10.1.2.3", "class": "private"}, {"ip": "81.2.69.162", "class": "public"}]},
    ]


def test_confirmed_origin_still_lists_claims_separately() -> None:
    headers = received(MX, extra=(("X-Originating-IP", "81.2.69.161"),))
    trace = trace_headers(headers, now=NOW)
    assert trace.origin.ip == "209.85.220.41" and trace.origin.confidence == "confirmed"
    assert trace.originating_claims[0]["ips"] == [{"ip": "81.2.69.161", "class": "public"}]


def test_unknown_origin_when_no_external_address_exists() -> None:
    internal = ("from laptop.example.edu ([10.20.30.40]) by mx.example.edu (Postfix) with ESMTP "
                "id E5; Tue, 5 Mar 2024 10:00:00 +0000")
    trace = trace_headers(received(internal), now=NOW)
    assert trace.origin.confidence == "unknown" and trace.origin.ip == "10.20.30.40"
    assert trace.origin.ip_class == "private"
    empty = trace_headers([("Subject", "no path")], now=NOW)
    assert empty.origin.confidence == "unknown" and empty.origin.ip is None
    assert codes(empty) == [("no-received-headers", None)]


def test_private_client_of_our_own_relay_is_confirmed() -> None:
    internal = ("from laptop.example.edu ([10.20.30.40]) by mx.example.edu (Postfix) with ESMTP "
                "id E5; Tue, 5 Mar 2024 10:00:00 +0000")
    trace = trace_headers(received(internal), TrustedRelays.from_strings(["mx.example.edu"]),
                          now=NOW)
    assert trace.origin.confidence == "confirmed" and trace.origin.ip_class == "private"


# --- Anomalies ---------------------------------------------------------------------------------


def test_time_reversal_beyond_clock_skew() -> None:
    late = MX.replace("10:00:03", "08:59:00")
    trace = trace_headers(received(STORE, late, SUBMIT), now=NOW)
    assert ("time-reversal", 1) in codes(trace)
    explanation = next(a.explanation for a in trace.anomalies if a.code == "time-reversal")
    assert "1 h 1 min 1 s earlier than hop 2" in explanation
    small = MX.replace("10:00:03", "09:57:00")  # 3 min back: inside the 5 min default
    assert "time-reversal" not in [c for c, _ in codes(trace_headers(received(STORE, small, SUBMIT),
                                                                      now=NOW))]
    strict = trace_headers(received(STORE, small, SUBMIT), clock_skew=timedelta(minutes=1),
                           now=NOW)
    assert ("time-reversal", 1) in codes(strict)


def test_future_dates_are_flagged() -> None:
    trace = trace_headers(received(STORE, MX, SUBMIT), now=datetime(2024, 3, 5, 9, 0,
                                                                   tzinfo=UTC))
    assert ("future-date", 0) in codes(trace) and ("future-date", 1) in codes(trace)


def test_chain_break_between_unrelated_hosts() -> None:
    elsewhere = SUBMIT.replace("by smtp.gmail.com", "by relay.unrelated.example")
    trace = trace_headers(received(MX, elsewhere), now=NOW)
    assert ("chain-break", 1) in codes(trace)
    assert trace.anomalies[[c for c, _ in codes(trace)].index("chain-break")].severity == "warning"


@pytest.mark.parametrize(
    ("older_by", "newer_from"),
    [
        ("by MAIL.Example.EDU (Postfix)", "from mail.example.edu (mail.example.edu [192.0.2.5])"),
        ("by out3.example.co.uk (Exim)", "from out7.example.co.uk (out7.example.co.uk [192.0.2.5])"),
        ("by relay (Postfix)", "from relay.example.net (relay.example.net [192.0.2.5])"),
        ("by 192.0.2.5 with SMTP", "from odd.example ([192.0.2.5])"),
        ("by CY4PR01.outlook.office365.com (2603:10b6:910:89::28)",
         "from CY4PR01.namprd06.prod.outlook.com (2603:10b6:910:89::28)"),
        ("by lams18 with SMTP", "from mail-la0-x241.google.com (mail-la0-x241.google.com [192.0.2.5])"),
    ],
)
def test_no_chain_break_for_matching_or_unclear_names(older_by: str, newer_from: str) -> None:
    older = f"from client.example ([192.0.2.99]) {older_by} id 1; Tue, 5 Mar 2024 10:00:00 +0000"
    newer = f"{newer_from} by top.example with ESMTP id 2; Tue, 5 Mar 2024 10:00:01 +0000"
    assert "chain-break" not in [c for c, _ in codes(trace_headers(received(newer, older), now=NOW))]


@pytest.mark.parametrize("helo", ["[192.0.2.1]", "192.0.2.1", "[IPv6:2001:db8::1]"])
def test_helo_claiming_another_ip(helo: str) -> None:
    hop = f"from {helo} (host.example [81.2.69.160]) by mx.example.edu with ESMTP; " \
          "Tue, 5 Mar 2024 10:00:00 +0000"
    trace = trace_headers(received(hop), now=NOW)
    assert ("helo-ip-mismatch", 0) in codes(trace)
    same = hop.replace("81.2.69.160", normalise_ip(helo) or "")
    assert "helo-ip-mismatch" not in [c for c, _ in codes(trace_headers(received(same), now=NOW))]


def test_unparseable_hop_is_flagged_and_stops_trust() -> None:
    trace = trace_headers(received(STORE, "utter garbage", SUBMIT), now=NOW)
    assert ("unparseable-hop", 1) in codes(trace)
    assert trace.hops[1].raw == "utter garbage"


def test_every_anomaly_code_is_documented_with_a_severity() -> None:
    assert set(ANOMALY_CODES.values()) <= {"info", "warning"}
    assert {"time-reversal", "chain-break", "untrusted-hop", "helo-ip-mismatch", "missing-date",
            "unparseable-hop", "future-date", "no-received-headers"} == set(ANOMALY_CODES)


# --- IP classes, configuration, helpers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("81.2.69.160", "public"), ("2a00:1450:4010:c03::241", "public"),
        ("10.1.2.3", "private"), ("172.16.5.4", "private"), ("192.168.0.1", "private"),
        ("fd12:3456::1", "private"), ("127.0.0.1", "loopback"), ("::1", "loopback"),
        ("169.254.1.1", "link-local"), ("fe80::1%14", "link-local"), ("100.64.0.1", "cgnat"),
        ("100.127.255.254", "cgnat"), ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"), ("203.0.113.9", "documentation"),
        ("2001:db8::5", "documentation"), ("224.0.0.5", "multicast"), ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"), ("0.1.2.3", "reserved"), ("198.18.0.1", "reserved"),
        ("255.255.255.255", "reserved"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
        ("::ffff:81.2.69.160", "public"), ("[IPv6:::ffff:10.0.0.1]", "private"),
        ("AA.BB.CC.6", "invalid"), ("", "invalid"),
    ],
)
def test_ip_classes(ip: str, expected: str) -> None:
    assert classify_ip(ip) == expected and expected in IP_CLASSES


def test_ip_normalisation() -> None:
    assert normalise_ip("[IPv6:2001:0DB8:0:0::1]") == "2001:db8::1"
    assert normalise_ip("IPv6: ::ffff:192.0.2.1") == "192.0.2.1"
    assert normalise_ip("192.0.2.1:25") == "192.0.2.1"
    assert normalise_ip("not-an-ip") is None


def test_trusted_relays_from_strings() -> None:
    relays = TrustedRelays.from_strings(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32",
                                         "MX.Example.EDU.", ".google.com", " "])
    assert [str(n) for n in relays.networks] == ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
    assert relays.hostnames == ["mx.example.edu", ".google.com"]
    assert relays.has_ip("10.9.9.9") and relays.has_ip("2001:db8::1")
    assert not relays.has_ip("11.0.0.1") and not relays.has_ip(None)
    assert relays.has_host("mx.example.edu") and not relays.has_host("a.mx.example.edu")
    assert relays.has_host("google.com") and relays.has_host("mail-sor-f41.google.com")
    assert not relays.has_host("evilgoogle.com")
    with pytest.raises(ValueError, match="neither a network nor a host name"):
        TrustedRelays.from_strings(["10.0.0.0/33x"])


def test_registered_domain() -> None:
    assert registered_domain("mail.example.co.uk") == "example.co.uk"
    assert registered_domain("a.b.example.com.") == "example.com"


# --- Raw messages --------------------------------------------------------------------------------


def test_trace_message_reads_malformed_bytes() -> None:
    raw = (b"From MAILER-DAEMON Tue Mar  5 10:00:06 2024\r\n"
           b"Received: from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])\r\n"
           b"\tby mx.example.edu (Postfix) with ESMTPS id B2;\r\n"
           b"\tTue, 5 Mar 2024 10:00:03 +0000\r\n"
           b"Received: from [192.168.1.20] (h\xe9te.example [81.2.69.160]) by smtp.gmail.com\r\n"
           b"with ESMTPSA id c3; Tue, 05 Mar 2024 02:00:01 -0800\r\n"  # broken fold
           b"Subject: caf\xc3\xa9\x00\r\n"
           b"\r\n"
           b"Received: from body.example by nowhere; Tue, 5 Mar 2024 10:00:00 +0000\r\n")
    trace = trace_message(raw, now=NOW)
    assert [h.position for h in trace.hops] == [1, 0]
    assert trace.hops[0].by_host == "smtp.gmail.com" and trace.hops[0].from_ip == "81.2.69.160"
    assert trace.hops[0].timestamp is not None
    fields = read_header_fields(raw)
    assert ("Subject", "café") in fields


def test_to_dict_is_complete_and_json() -> None:
    trace = trace_headers(received(STORE, MX, SUBMIT, extra=(("X-Originating-IP", "81.2.69.161"),)),
                          TrustedRelays.from_strings(["mx.example.edu"]), now=NOW)
    data = trace.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert list(data) == ["hops", "total_transit_seconds", "origin", "anomalies",
                          "originating_claims", "trust_mode", "trusted_relays", "providers_version"]
    assert [h["position"] for h in data["hops"]] == [2, 1, 0]
    assert data["hops"][0]["from_ip_class"] == "public" and data["hops"][1]["delay_seconds"] == 2
    assert data["hops"][0]["trusted"] is False and data["hops"][2]["trusted"] is True
    assert data["origin"]["confidence"] == "confirmed" and data["total_transit_seconds"] == 4
    assert data["trusted_relays"] == {"networks": [], "hostnames": ["mx.example.edu"],
                                      "trust_helo": False}
    assert {"code", "hop_position", "severity", "explanation"} == set(data["anomalies"][0])


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.txt")))
def test_fixture_chains_trace_cleanly(name: str) -> None:
    trace = trace_message((FIXTURES / f"{name}.txt").read_bytes(), now=NOW)
    assert trace.hops and trace.origin.confidence in ("confirmed", "claimed", "unknown")
    json.dumps(trace.to_dict())


def test_fixture_office365_chain_with_and_without_trusting_microsoft() -> None:
    raw = (FIXTURES / "o365_frontend.txt").read_bytes()
    # With the shipped provider data the trace walks through Microsoft 365's internal hops
    # (public 2603:10a6:: addresses) and through the Proofpoint Essentials gateway in front
    # of it, to the first hop received from outside.
    plain = trace_message(raw, now=NOW)
    assert (plain.origin.ip, plain.origin.host, plain.origin.confidence) == (
        "52.4.102.94", "hmail.jitbit.com", "confirmed")
    assert plain.origin.receiving_provider == "Microsoft 365"
    assert "Proofpoint" in plain.origin.explanation and "gateway in front of Microsoft 365" in plain.origin.explanation
    # Configured relays add to the shipped data; they do not replace it.
    relays = TrustedRelays.from_strings([".outlook.com", ".office365.com"], trust_helo=True)
    trusted = trace_message(raw, relays, now=NOW)
    assert (trusted.origin.ip, trusted.origin.confidence) == ("52.4.102.94", "confirmed")
    assert trusted.trusted[-4:] == [True] * 4 and plain.trusted[-4:] == [True] * 4


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_every_corpus_message_traces_without_error() -> None:
    paths = [p for p in CORPUS.rglob("*") if p.is_file()
             and p.suffix not in (".json", ".yml", ".tsv", ".md")]
    confidences: dict[str, int] = {}
    for path in paths:
        trace = trace_message(path.read_bytes(), now=NOW)
        json.dumps(trace.to_dict())
        confidences[trace.origin.confidence] = confidences.get(trace.origin.confidence, 0) + 1
    print(f"\ncorpus trace: {len(paths)} files, origin confidence {confidences}")


# --- Fuzzing -----------------------------------------------------------------------------------

_NAMES = st.sampled_from(["Received", "received", "X-Originating-IP", "X-Forwarded-For",
                          "Subject"]) | st.text(max_size=10)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_NAMES, st.text(max_size=200)), max_size=8))
def test_trace_headers_never_raises(headers: list[tuple[str, str]]) -> None:
    trace = trace_headers(headers, now=NOW)
    json.dumps(trace.to_dict())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_trace_message_never_raises(raw: bytes) -> None:
    trace = trace_message(b"Received: " + raw, now=NOW)
    json.dumps(trace.to_dict())
    trace_message(raw)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=600))
def test_trace_message_never_raises_on_text(text: str) -> None:
    json.dumps(trace_message("Received: " + text, now=NOW).to_dict())
