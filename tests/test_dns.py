"""Key look-ups: static and offline resolvers, the dkimpy adapter, and real DNS on loopback.

The dnspython tests talk to a tiny DNS server on 127.0.0.1 that answers from a
dictionary, so timeouts, SERVFAIL, NXDOMAIN and the on-disk cache are exercised
through the real resolver code without leaving the machine.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import dkim
import dns.message
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from stopit_mail.headers.dns import (
    DkimDnsFunc,
    DnsNotFound,
    DnspythonResolver,
    DnsTemporaryError,
    OfflineResolver,
    StaticResolver,
    for_dkimpy,
    read_key_record,
    vet_key,
)

KEY = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"


# --- StaticResolver and OfflineResolver -------------------------------------------------------

def test_static_resolver_answers_strings_lists_and_is_case_insensitive() -> None:
    resolver = StaticResolver({"Sel._DomainKey.Example.COM.": KEY, "two.example": [b"a", "b"]})
    assert resolver.txt("sel._domainkey.example.com") == [KEY.encode()]
    assert resolver.txt("TWO.example.") == [b"a", b"b"]


def test_static_resolver_unknown_name_is_not_found() -> None:
    with pytest.raises(DnsNotFound):
        StaticResolver({}).txt("missing.example")


@pytest.mark.parametrize(("marker", "error"), [
    ({"dns_error": "NXDOMAIN"}, DnsNotFound),
    ({"missing_from_fake_dns": True}, DnsNotFound),
    ({"dns_error": "Query timed out"}, DnsTemporaryError),
    ({"dns_error": "SERVFAIL"}, DnsTemporaryError),
    (DnsTemporaryError("timeout"), DnsTemporaryError),
])
def test_static_resolver_error_markers(marker: object, error: type[Exception]) -> None:
    resolver = StaticResolver({"k.example": marker})
    for _ in range(2):  # a marker can be raised again
        with pytest.raises(error):
            resolver.txt("k.example")


def test_offline_resolver_is_always_temporary() -> None:
    with pytest.raises(DnsTemporaryError, match="offline"):
        OfflineResolver().txt("anything.example")


# --- the dkimpy adapter --------------------------------------------------------------------------

class _Counting:
    def __init__(self, inner: StaticResolver) -> None:
        self.inner, self.calls = inner, 0

    def txt(self, name: str) -> list[bytes]:
        self.calls += 1
        return self.inner.txt(name)


def test_adapter_speaks_dkimpy_and_remembers_answers() -> None:
    resolver = _Counting(StaticResolver({
        "s._domainkey.example.com": ["not a key", KEY],
        "t._domainkey.example.com": {"dns_error": "timeout"},
    }))
    dnsfunc = DkimDnsFunc(resolver)
    # dkimpy passes bytes with a trailing dot and a timeout keyword.
    assert dnsfunc(b"s._domainkey.example.com.", timeout=5) == KEY.encode()
    assert dnsfunc("S._domainkey.example.com") == KEY.encode()
    assert resolver.calls == 1
    assert dnsfunc(b"nokey._domainkey.example.com.") is None
    with pytest.raises(dkim.DnsTimeoutError):
        dnsfunc(b"t._domainkey.example.com.")
    statuses = {name: lookup.status for name, lookup in dnsfunc.lookups.items()}
    assert statuses == {"s._domainkey.example.com": "found",
                        "nokey._domainkey.example.com": "not-found",
                        "t._domainkey.example.com": "temperror"}


def test_adapter_turns_a_crashing_resolver_into_temperror() -> None:
    class Broken:
        def txt(self, name: str) -> list[bytes]:
            raise RuntimeError("bug")

    lookup = DkimDnsFunc(Broken()).lookup("x.example")
    assert lookup.status == "temperror" and "bug" in lookup.error


def test_service_type_lists_are_rewritten_for_dkimpy() -> None:
    assert b"s=*" in for_dkimpy(b"v=DKIM1; s=email:web; p=AAAA")
    assert for_dkimpy(b"v=DKIM1; s=web; p=AAAA") == b"v=DKIM1; s=web; p=AAAA"
    assert for_dkimpy(b"garbage without tags") == b"garbage without tags"


def test_key_records_are_read_without_raising() -> None:
    key = read_key_record(b"v=DKIM1; t=y:s; h=sha256; s=email; p=AB CD")
    assert (key.testing, key.strict_identity, key.hash_algorithms, key.public_key) == (
        True, True, ["sha256"], "ABCD")
    assert read_key_record(b"k=rsa; t=y; p=").revoked
    assert "version" in read_key_record(b"v=DKIM3; p=AAAA").error
    assert "syntax" in read_key_record(b"k=rsa; t; p=AAAA").error
    assert "no p=" in read_key_record(b"").error


def test_vet_key_applies_rfc6376_key_rules() -> None:
    def vet(record: bytes, **kw: object) -> str | None:
        args: dict = dict(key_type="rsa", hash_name="sha256", algorithm="rsa-sha256",
                          domain="example.com", identity=None)
        args.update(kw)
        return vet_key(record, "s._domainkey.example.com", **args).problem

    assert "revoked" in (vet(b"p=") or "")
    assert "not for email" in (vet(b"s=web; p=AAAA") or "")
    assert "does not match" in (vet(b"k=ed25519; p=AAAA") or "")
    assert "does not allow sha256" in (vet(b"h=sha1; p=AAAA") or "")
    assert "t=s" in (vet(b"t=s; p=AAAA", identity="a@sub.example.com") or "")
    assert "unusable key" in (vet(b"p=AAAA") or "")


# --- dnspython against a loopback DNS server -----------------------------------------------

class FakeDnsServer:
    """Answers TXT questions on 127.0.0.1 from a dict: records, or NXDOMAIN/SERVFAIL/DROP/NODATA."""

    def __init__(self, zone: dict[str, object]) -> None:
        self.zone, self.queries = zone, 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            self.queries += 1
            reply = self._answer(dns.message.from_wire(data))
            if reply is not None:
                self.sock.sendto(reply.to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message | None:
        qname = query.question[0].name
        action = self.zone.get(qname.to_text().rstrip(".").lower(), "NXDOMAIN")
        if action == "DROP":
            return None
        reply = dns.message.make_response(query)
        if action in ("NXDOMAIN", "SERVFAIL"):
            reply.set_rcode(dns.rcode.from_text(str(action)))
        elif action != "NODATA":
            rrset = dns.rrset.RRset(qname, dns.rdataclass.IN, dns.rdatatype.TXT)
            for strings in action:  # type: ignore[attr-defined]
                text = " ".join(f'"{s}"' for s in strings)
                rrset.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, text), ttl=60)
            reply.answer.append(rrset)
        return reply

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def server() -> Iterator[FakeDnsServer]:
    fake = FakeDnsServer({
        "sel._domainkey.example.com": [["v=DKIM1; k=rsa; ", "p=AAAA"]],
        "two._domainkey.example.com": [["first"], ["second"]],
        "nodata.example.com": "NODATA",
        "broken.example.com": "SERVFAIL",
        "slow.example.com": "DROP",
    })
    yield fake
    fake.close()


def _resolver(server: FakeDnsServer, cache: Path | None = None,
              clock: list[float] | None = None) -> DnspythonResolver:
    now = clock if clock is not None else [1_000_000.0]
    return DnspythonResolver(cache, nameservers=["127.0.0.1"], port=server.port,
                             lifetime=0.5, clock=lambda: now[0])


def test_dnspython_joins_strings_per_record(server: FakeDnsServer) -> None:
    resolver = _resolver(server)
    assert resolver.txt("sel._domainkey.example.com") == [b"v=DKIM1; k=rsa; p=AAAA"]
    assert sorted(resolver.txt("two._domainkey.example.com")) == [b"first", b"second"]


@pytest.mark.parametrize(("name", "error"), [
    ("missing.example.com", DnsNotFound),
    ("nodata.example.com", DnsNotFound),
    ("broken.example.com", DnsTemporaryError),
    ("slow.example.com", DnsTemporaryError),
])
def test_dnspython_failures_are_classified(server: FakeDnsServer, name: str,
                                           error: type[Exception]) -> None:
    with pytest.raises(error):
        _resolver(server).txt(name)


def test_dnspython_cache_honours_ttl_and_skips_temporary_errors(
        server: FakeDnsServer, tmp_path: Path) -> None:
    clock = [1_000_000.0]
    resolver = _resolver(server, tmp_path, clock)
    for _ in range(2):
        assert resolver.txt("sel._domainkey.example.com") == [b"v=DKIM1; k=rsa; p=AAAA"]
    assert server.queries == 1
    clock[0] += 61  # past the record's 60 s TTL
    resolver.txt("sel._domainkey.example.com")
    assert server.queries == 2

    for _ in range(2):
        with pytest.raises(DnsNotFound):
            resolver.txt("missing.example.com")
    assert server.queries == 3  # the negative answer was cached

    for _ in range(2):
        with pytest.raises(DnsTemporaryError):
            resolver.txt("broken.example.com")
    assert server.queries == 5  # SERVFAIL was asked twice, never cached


def test_dnspython_cache_survives_damage_and_is_shared(server: FakeDnsServer,
                                                       tmp_path: Path) -> None:
    _resolver(server, tmp_path).txt("sel._domainkey.example.com")
    [entry] = list(tmp_path.glob("*.json"))
    assert json.loads(entry.read_text())["name"] == "sel._domainkey.example.com"
    # A second resolver (another worker) reads the same cache.
    _resolver(server, tmp_path).txt("sel._domainkey.example.com")
    assert server.queries == 1
    entry.write_text("{not json")
    assert _resolver(server, tmp_path).txt("sel._domainkey.example.com")
    assert server.queries == 2


def test_dnspython_rejects_impossible_names_without_asking(server: FakeDnsServer) -> None:
    with pytest.raises(DnsNotFound):
        _resolver(server).txt("x" * 70 + ".example.com")
    assert server.queries == 0
