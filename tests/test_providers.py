"""Provider-aware tracing with default settings: synthetic chains for every shipped provider,
and the real corpus measured against an independent reference written here.

The synthetic chains follow each provider's documented Received format (Microsoft's
"with Microsoft SMTP Server ... via Frontend Transport", Gmail's "by 2002:..." internal
hand-overs and "by mx.google.com with ESMTPS", Yahoo's "(EHLO ...)", Postfix-style for the
rest); every one ends in a forged hop the sender wrote, which must never be the origin.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest

from stopit_mail.headers.boundary import SENDER_WRITTEN
from stopit_mail.headers.providers import GATEWAY, parse_catalog, shipped_catalog
from stopit_mail.headers.trace import trace_headers, trace_message

from conftest import CORPUS as SHARED_CORPUS

NOW = datetime(2025, 3, 6, tzinfo=UTC)
DATE = "Wed, 5 Mar 2025 10:00:00 +0000"
SENDER = "80.96.157.210"  # granigo.art's relay in the issue
CORPUS = SHARED_CORPUS / "received"
FORGED = f"from forged.example.net ([81.2.69.144]) by mail.granigo.art with SMTP id 1; {DATE}"


def _inside(key: str) -> str | None:
    """An address inside the provider's first published range, or None when it has none."""
    provider = shipped_catalog().get(key)
    assert provider is not None
    return str(provider.networks[0][5]) if provider.networks else None


def _generic_chain(key: str) -> list[str]:
    """Postfix-style hops: an internal hand-over written by the provider, then its inbound
    frontend receiving from outside."""
    provider = shipped_catalog().get(key)
    assert provider is not None
    suffix = provider.hosts[0]
    internal_ip = _inside(key) or "81.2.69.160"  # outside any range: the rDNS name must do
    return [
        f"from in1{suffix} (in1{suffix} [{internal_ip}]) by store1{suffix} (Postfix) with ESMTPS "
        f"id 4Xk2 for <victim@example.edu>; {DATE}",
        f"from mail.granigo.art (mail.granigo.art [{SENDER}]) by in1{suffix} (Postfix) with ESMTPS "
        f"id 4Xk1 for <victim@example.edu>; {DATE}",
        FORGED,
    ]


CHAINS = {
    "microsoft": [
        f"from AM9PR01MB1234.eurprd01.prod.outlook.com (2603:10a6:20b:1::5) by "
        f"AM0PR01MB5678.eurprd01.prod.outlook.com with HTTPS; {DATE}",
        f"from AM2PEPF0001.eurprd01.prod.outlook.com (2603:10a6:20b:2::1) by "
        f"AM9PR01MB1234.eurprd01.prod.outlook.com (2603:10a6:20b:1::5) with Microsoft SMTP Server "
        f"(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.8489.21; {DATE}",
        f"from mail.granigo.art ({SENDER}) by AM2PEPF0001.mail.protection.outlook.com (10.167.16.1) "
        f"with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) "
        f"id 15.20.8489.21 via Frontend Transport; {DATE}",
        FORGED,
    ],
    "google": [
        f"by 2002:a05:6a10:b70d:b0:5d1:2f3e:4a5b with SMTP id s13csp1234567pxx; {DATE}",
        f"from mail.granigo.art (mail.granigo.art. [{SENDER}]) by mx.google.com with ESMTPS id "
        f"a1si1234567wrx.123.2025.03.05.02.00.00 for <victim@gmail.com> (version=TLS1_3 "
        f"cipher=TLS_AES_256_GCM_SHA384 bits=256/256); {DATE}",
        FORGED,
    ],
    "yahoo": [
        f"from 10.197.37.12 by atlas112.free.mail.bf1.yahoo.com with HTTP; {DATE}",
        f"from sonic305-2.consmr.mail.bf2.yahoo.com by atlas112.free.mail.bf1.yahoo.com with "
        f"HTTP/1.1; {DATE}",
        f"from mail.granigo.art (EHLO mail.granigo.art) ({SENDER}) by mta4003.mail.bf1.yahoo.com "
        f"with SMTPS; {DATE}",
        FORGED,
    ],
}


def chain_for(key: str) -> list[tuple[str, str]]:
    return [("Received", value) for value in CHAINS.get(key) or _generic_chain(key)]


@pytest.mark.parametrize("key", [p.key for p in shipped_catalog().providers])
def test_every_shipped_provider_is_traced_to_the_first_hop_it_received_from_outside(key: str) -> None:
    provider = shipped_catalog().get(key)
    assert provider is not None
    trace = trace_headers(chain_for(key), now=NOW)
    origin = trace.origin
    assert (origin.ip, origin.confidence) == (SENDER, "confirmed"), origin.explanation
    assert origin.receiving_provider == provider.name
    assert origin.reasons[0].startswith("first external hop, handed to " + provider.name)
    forged = trace.to_dict()["hops"][0]
    assert forged["from_ip"] == "81.2.69.144" and forged["written_by"] == SENDER_WRITTEN
    assert any("could be forged" in reason for reason in origin.reasons)


def test_microsoft_says_it_was_handed_over_at_its_inbound_frontend() -> None:
    origin = trace_headers(chain_for("microsoft"), now=NOW).origin
    assert origin.reasons[0] == ("first external hop, handed to Microsoft 365 at its inbound frontend "
                                 "AM2PEPF0001.mail.protection.outlook.com")


def test_a_gateway_in_front_of_a_mailbox_provider_is_walked_through() -> None:
    headers = chain_for("microsoft")[:2] + [
        ("Received", f"from mx0a-00123456.pphosted.com (148.163.128.20) by AM2PEPF0001.mail.protection."
                     f"outlook.com (10.167.16.1) with Microsoft SMTP Server id 15.20.1 via Frontend Transport; {DATE}"),
        ("Received", f"from mail.granigo.art (mail.granigo.art [{SENDER}]) by mx0a-00123456.pphosted.com "
                     f"(8.18.1.2/8.18.1.2) with ESMTPS id 4Xk9; {DATE}"),
        ("Received", FORGED)]
    origin = trace_headers(headers, now=NOW).origin
    assert origin.ip == SENDER and origin.receiving_provider == "Microsoft 365"
    assert "Proofpoint (the gateway in front of Microsoft 365)" in origin.reasons[0]


def test_mail_sent_from_gmail_names_gmail_the_account_and_the_client_gmail_recorded() -> None:
    headers = chain_for("microsoft")[:2] + [
        ("Received", f"from mail-ej1-f45.google.com (209.85.218.45) by AM2PEPF0001.mail.protection.outlook.com "
                     f"(10.167.16.1) with Microsoft SMTP Server id 15.20.1 via Frontend Transport; {DATE}"),
        ("Received", f"from laptop ([81.2.69.161]) by smtp.gmail.com with ESMTPSA id x1sm123.2025.03.05; {DATE}"),
        ("From", "Harasser <harasser.account@gmail.com>"),
        ("Return-Path", "<harasser.account@gmail.com>")]
    origin = trace_headers(headers, now=NOW).origin
    assert (origin.ip, origin.sending_provider, origin.account) == (
        "209.85.218.45", "Google Workspace / Gmail", "harasser.account@gmail.com")
    assert origin.client_ips == [{"ip": "81.2.69.161", "source": "hop 3",
                                  "label": "the client Google Workspace / Gmail's server smtp.gmail.com "
                                           "recorded (not verified by us)"}]
    assert "sent from a Google Workspace / Gmail account: harasser.account@gmail.com" in origin.explanation


def test_mail_sent_from_outlook_com_to_gmail_labels_x_originating_ip_as_microsofts() -> None:
    headers = [
        ("Received", f"by 2002:a05:6a10:b70d:b0:5d1:2f3e:4a5b with SMTP id s13csp1pxx; {DATE}"),
        ("Received", f"from EUR05-AM6-obe.outbound.protection.outlook.com (mail-am6eur05olkn2010.outbound."
                     f"protection.outlook.com. [40.92.91.10]) by mx.google.com with ESMTPS id a1si1; {DATE}"),
        ("From", "someone <someone@outlook.com>"), ("X-Originating-IP", "[81.2.69.162]")]
    origin = trace_headers(headers, now=NOW).origin
    assert origin.ip == "40.92.91.10" and origin.receiving_provider == "Google Workspace / Gmail"
    assert origin.sending_provider == "Microsoft 365" and origin.account == "someone@outlook.com"
    assert origin.client_ips[0]["ip"] == "81.2.69.162" and origin.client_ips[0]["source"] == "X-Originating-IP"
    assert "not verified" in origin.client_ips[0]["label"]


def test_a_rdns_name_pointing_into_microsoft_from_outside_its_ranges_does_not_pass_trust() -> None:
    # Anyone can set the reverse DNS of their own address to a Microsoft-looking name.
    headers = chain_for("microsoft")[:2] + [
        ("Received", f"from fake (x.mail.protection.outlook.com [81.2.69.170]) by AM2PEPF0001.mail.protection."
                     f"outlook.com (10.167.16.1) with Microsoft SMTP Server; {DATE}"),
        ("Received", FORGED)]
    assert trace_headers(headers, now=NOW).origin.ip == "81.2.69.170"


def test_the_shipped_data_has_a_version_sources_and_abuse_desks_for_every_provider() -> None:
    catalog = shipped_catalog()
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d{2}", catalog.version)
    assert len(catalog.providers) >= 15
    for provider in catalog.providers:
        assert provider.sources and provider.hosts and provider.abuse and "@" in provider.abuse
    assert {p.key for p in catalog.providers if p.kind == GATEWAY} == {"mimecast", "proofpoint", "barracuda",
                                                                      "cisco"}
    with pytest.raises(ValueError, match="unknown keys"):
        parse_catalog('version = "1"\n[[provider]]\nkey = "x"\nname = "x"\nkind = "mailbox"\nhots = []\n')


# --- The corpus, against an independent reference --------------------------------------------

# The reference reads Received fields with its own regular expressions and its own short list
# of provider domains; it shares no code with the project's parser or provider data.
_REF_FIELD = re.compile(r"^Received:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)", re.M | re.I)
_REF_BY = re.compile(r"\bby\s+([^\s;()]+)", re.I)
_REF_FROM = re.compile(r"^\s*from\s+(\S+)\s*(\(([^()]*)\))?", re.I)
_REF_IP = re.compile(r"\[?(?:IPv6:)?([0-9a-fA-F:]*:[0-9a-fA-F:.]+|\d{1,3}(?:\.\d{1,3}){3})\]?")
_REF_PROVIDERS = {
    "outlook.com": "ms", "office365.com": "ms", "hotmail.com": "ms", "google.com": "g", "gmail.com": "g",
    "yahoo.com": "y", "aol.com": "y", "icloud.com": "a", "me.com": "a", "protonmail.ch": "p",
    "zoho.com": "z", "messagingengine.com": "f", "gmx.net": "gmx", "web.de": "gmx", "mail.ru": "mr",
    "yandex.net": "ya", "qq.com": "qq", "163.com": "163", "mimecast.com": "gw", "pphosted.com": "gw",
    "ppe-hosted.com": "gw", "barracudanetworks.com": "gw", "iphmx.com": "gw",
}


def _ref_owner(host: str) -> str | None:
    host = host.lower().rstrip(".")
    return next((owner for domain, owner in _REF_PROVIDERS.items()
                 if host == domain or host.endswith("." + domain)), None)


def _ref_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ref_internal(ip: str | None) -> bool:
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return ip is None
    return not address.is_global or str(address).startswith("2603:10")


def reference_first_external_ip(raw: str) -> str | None:
    """Walk from the top while the client is inside the receiving side; return its client IP."""
    head = re.split(r"\r?\n\r?\n", raw, maxsplit=1)[0]
    receiving: str | None = None
    for field in _REF_FIELD.finditer(head):
        text = " ".join(field.group(1).split())
        by = _REF_BY.search(text)
        writer = _ref_owner(by.group(1)) if by else None
        receiving = receiving or writer
        found = _REF_FROM.search(text)
        if found is None:
            continue  # "by"-only: an internal hand-over
        client = re.split(r"\sby\s", text[found.start():], maxsplit=1, flags=re.I)[0]
        names = [found.group(1)] + re.findall(r"[\w.-]+\.[a-z]{2,}", client, re.I)
        ips = [m.group(1) for m in _REF_IP.finditer(client) if _ref_ip(m.group(1))]
        ip = ips[-1] if ips else None
        owners = {_ref_owner(n) for n in names} - {None}
        inside = _ref_internal(ip) or bool(owners & {receiving, "gw"})
        if not inside:
            return ip
    return None


def _year(raw: str) -> int | None:
    match = re.search(r"^Date:\s*(.+)$", raw, re.M)
    try:
        return parsedate_to_datetime(match.group(1).strip()).year if match else None
    except (TypeError, ValueError):
        return None


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_corpus_origin_is_the_first_external_hop_by_an_independent_reference() -> None:
    total = agree = recent = recent_agree = 0
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        text = raw.decode("utf-8", "replace")
        expected = reference_first_external_ip(text)
        if expected is None:
            continue
        got = trace_message(raw, now=NOW).origin.ip
        same = got == str(ipaddress.ip_address(expected)) if _REF_IP.fullmatch(expected) else False
        total, agree = total + 1, agree + same
        if (_year(text) or 0) >= 2020:
            recent, recent_agree = recent + 1, recent_agree + same
    share = f"{agree}/{total} ({100 * agree / total:.0f}%)" if total else "no chains"
    recent_share = f"{recent_agree}/{recent} ({100 * recent_agree / recent:.0f}%)" if recent else "no chains"
    print(f"\ncorpus: origin is the reference's first external hop in {share}; from 2020 on: {recent_share}")
    if recent:
        assert recent_agree / recent >= 0.95
