"""The listener against real clients: 250 only after the commit, never a relay, honest limits.

Each test starts a real server on 127.0.0.1 (in-process, worker off unless needed) and talks
to it with smtplib, the way an MTA would.
"""

from __future__ import annotations

import asyncio
import datetime
import smtplib
import socket
import sqlite3
import ssl
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from stopit_mail.app import App
from stopit_mail.errors import StorageError
from stopit_mail.ingest.groupcommit import GroupCommitSink
from stopit_mail.ingest.listener import ThreadedSink
from stopit_mail.ingest.ratelimit import ConnectionLimiter, RateLimiter
from stopit_mail.ingest.rawstore import Envelope, StoreResult
from stopit_mail.models import RawMessage
from stopit_mail.sealing import is_sealed_bytes, is_sealed_envelope, open_bytes, open_envelope

from smtp_helpers import open_fresh, report_message, running_server, wait_until

# Dot-stuffing, 8-bit bytes and a bare "." line exercise the byte-exact path.
TRICKY = report_message(1) + b".leading dot line\r\n..two dots\r\ncaf\xc3\xa9 \xff raw byte\r\n"


def config_path(app: App) -> Path:
    return app.settings.base_dir / "stopit.toml"


def stored_rows(app: App) -> list[RawMessage]:
    """The stored rows as the worker reads them: sealed at the 250, opened in memory."""
    fresh = open_fresh(config_path(app))
    try:
        with fresh.factory() as session:
            rows = list(session.scalars(select(RawMessage).order_by(RawMessage.id)))
            for row in rows:
                content = row.content  # load the deferred bytes before the row leaves the session
                session.expunge(row)
                row.content = open_bytes(app.settings, content)
                row.mail_from, row.peer = open_envelope(app.settings, row.mail_from, row.peer)
            return rows
    finally:
        fresh.close()


def test_250_means_the_exact_bytes_are_committed(app: App) -> None:
    with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        refused = client.sendmail("reporter1@example.org", ["stopit@example.edu"], TRICKY)
        assert refused == {}
        # A brand-new engine (another connection, as after a crash) sees the committed row.
        rows = stored_rows(app)
    assert len(rows) == 1
    assert rows[0].content == TRICKY
    assert (rows[0].source, rows[0].mail_from, rows[0].rcpt_to, rows[0].peer) == (
        "smtp", "reporter1@example.org", ["stopit@example.edu"], "127.0.0.1")
    assert rows[0].status.value == "received"


def test_the_listener_stores_nothing_readable_before_processing(app: App) -> None:
    """Issue 10: from the 250 on, the raw store holds no byte of the message or its envelope in
    clear (sealed with the public key; the worker opens them in memory)."""
    with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("reporter1@example.org", ["stopit@example.edu"], TRICKY)
    fresh = open_fresh(config_path(app))
    try:
        with fresh.factory() as session:
            row = session.scalars(select(RawMessage)).one()
            assert is_sealed_bytes(row.content) and is_sealed_envelope(row.mail_from) and row.peer is None
            assert b"reporter1" not in row.content and "reporter1" not in (row.mail_from or "")
    finally:
        fresh.close()


def test_null_sender_is_accepted_for_bounces(app: App) -> None:
    with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("", ["stopit@example.edu"], report_message(2))
    assert stored_rows(app)[0].mail_from == ""


class FailingSink:
    """A store that cannot commit, as when the disk is full."""

    async def store(self, content: bytes, envelope: Envelope) -> StoreResult:
        raise StorageError("disk full")


def test_storage_failure_answers_451_and_stores_nothing(app: App) -> None:
    with running_server(app, sink=FailingSink()) as server:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPDataError) as failure:
                client.sendmail("reporter1@example.org", ["stopit@example.edu"], report_message(1))
    assert failure.value.smtp_code == 451
    assert b"4.3.0" in failure.value.smtp_error
    assert stored_rows(app) == []


def test_locked_database_answers_451_then_the_retry_is_stored_once(app: App) -> None:
    """A real storage fault: another process holds SQLite's write lock past our timeout."""
    db_file = app.settings.data_path / "stopit.db"
    impatient = create_engine(f"sqlite:///{db_file}", connect_args={"timeout": 0.2})
    sink = GroupCommitSink(impatient, app.settings.limits.max_message_bytes)
    blocker = sqlite3.connect(db_file, isolation_level=None)
    message = report_message(3)
    try:
        with running_server(app, sink=sink) as server:
            blocker.execute("BEGIN IMMEDIATE")
            with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
                with pytest.raises(smtplib.SMTPDataError) as failure:
                    client.sendmail("reporter3@example.org", ["stopit@example.edu"], message)
                assert failure.value.smtp_code == 451
                blocker.execute("ROLLBACK")
                # The sending MTA retries later; now it is stored, exactly once.
                client.sendmail("reporter3@example.org", ["stopit@example.edu"], message)
                client.sendmail("reporter3@example.org", ["stopit@example.edu"], message)
    finally:
        blocker.close()
        impatient.dispose()
    rows = stored_rows(app)
    assert [row.content for row in rows] == [message]


def test_group_commit_stores_concurrent_messages_once_each(app: App) -> None:
    """Many clients at once: one row per distinct message, duplicates answered with its id."""
    sink = GroupCommitSink(app.engine, app.settings.limits.max_message_bytes)
    envelope = Envelope(source="smtp", mail_from="x@example.org", rcpt_to=["stopit@example.edu"])
    messages = [report_message(n) for n in range(40)]

    async def deliver_all() -> list[StoreResult]:
        # Every message twice, all at once: later copies land in the same or a later batch.
        return await asyncio.gather(*(sink.store(m, envelope) for m in messages + messages))

    try:
        results = asyncio.run(deliver_all())
    finally:
        sink.close()
    first, second = results[:40], results[40:]
    assert all(r.created for r in first) and not any(r.created for r in second)
    assert [r.raw_id for r in first] == [r.raw_id for r in second]
    assert sink.batches < 80  # they really were grouped
    assert [row.content for row in stored_rows(app)] == messages


def test_only_our_mailboxes_and_case_aliases_are_accepted(app: App) -> None:
    with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo()
        client.mail("someone@example.org")
        for foreign in ("victim@example.com", "someone@example.edu", "stopit@example.edu.evil.example"):
            code, reply = client.rcpt(foreign)
            assert (code, reply[:5]) == (550, b"5.1.1"), foreign
        assert client.rcpt("stopit+k7f2q9@example.edu")[0] == 250
        assert client.rcpt("STOPIT@Example.EDU")[0] == 250
        assert client.data(report_message(4))[0] == 250
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("someone@example.org", ["relay-me@example.net"], report_message(5))
    (row,) = stored_rows(app)
    assert row.rcpt_to == ["stopit+k7f2q9@example.edu", "STOPIT@Example.EDU"]


def test_size_is_advertised_and_enforced(app: App) -> None:
    app.settings.limits.max_message_bytes = 20_000
    small, big = report_message(6), report_message(7, size_padding=30_000)
    with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo()
        assert client.esmtp_features["size"] == "20000"
        # A client that declares SIZE is refused at MAIL FROM...
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("reporter7@example.org", ["stopit@example.edu"], big)
        assert refused.value.smtp_code == 552
        client.rset()
        # ...and one that does not is refused after DATA, without anything stored.
        client.mail("reporter7@example.org")
        client.rcpt("stopit@example.edu")
        assert client.data(big)[0] == 552
        client.sendmail("reporter6@example.org", ["stopit@example.edu"], small)
    assert [row.content for row in stored_rows(app)] == [small]


def test_connection_burst_from_one_peer_gets_421(app: App) -> None:
    app.settings.server.max_connections_per_peer = 3
    with running_server(app) as server:
        held = [smtplib.SMTP("127.0.0.1", server.port, timeout=10) for _ in range(3)]
        try:
            with pytest.raises(smtplib.SMTPConnectError) as refused:
                smtplib.SMTP("127.0.0.1", server.port, timeout=10)
            assert refused.value.smtp_code == 421
            held.pop().quit()
            # The slot comes back once a connection ends.
            assert wait_until(lambda: server.limits.connections.open_connections("127.0.0.1") == 2, 5)
            with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as again:
                assert again.noop()[0] == 250
        finally:
            for client in held:
                client.close()


def test_message_burst_from_one_peer_gets_451(app: App) -> None:
    app.settings.server.max_messages_per_peer_per_minute = 5
    accepted, deferred = 0, 0
    with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        for number in range(8):
            try:
                client.sendmail(f"reporter{number}@example.org", ["stopit@example.edu"], report_message(number))
                accepted += 1
            except smtplib.SMTPSenderRefused as exc:
                assert (exc.smtp_code, exc.smtp_error[:5]) == (451, b"4.7.1")
                deferred += 1
                client.rset()
    assert (accepted, deferred) == (5, 3)
    assert len(stored_rows(app)) == 5


def test_rate_limiter_window_slides_with_the_clock() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, window=60, clock=lambda: now[0])
    assert limiter.take("192.0.2.1") and limiter.take("192.0.2.1")
    assert not limiter.take("192.0.2.1") and not limiter.allowed("192.0.2.1")
    assert limiter.take("192.0.2.2")  # other peers are unaffected
    now[0] += 60.5
    assert limiter.allowed("192.0.2.1") and limiter.take("192.0.2.1")
    connections = ConnectionLimiter(1)
    assert connections.acquire("a") and not connections.acquire("a")
    connections.release("a")
    assert connections.acquire("a")


def test_lmtp_answers_each_recipient_after_data(app: App) -> None:
    app.settings.server.protocol = "lmtp"
    app.settings.limits.max_message_bytes = 20_000
    with running_server(app) as server:
        client = smtplib.LMTP("127.0.0.1", server.port, timeout=10)
        try:
            assert client.ehlo("mx.example.edu")[0] == 250  # smtplib.LMTP sends LHLO
            client.mail("reporter8@example.org")
            assert client.rcpt("stopit@example.edu")[0] == 250
            assert client.rcpt("nobody@example.com")[0] == 550
            assert client.rcpt("stopit+abc123@example.edu")[0] == 250
            first = client.data(report_message(8))
            second = client.getreply()
            assert [first[0], second[0]] == [250, 250]
            # No third reply is pending: the next command's answer is the next line.
            assert client.noop()[0] == 250
            # An oversized message is refused once per recipient, too.
            client.mail("reporter9@example.org")
            client.rcpt("stopit@example.edu")
            client.rcpt("stopit+abc123@example.edu")
            assert client.data(report_message(9, size_padding=30_000))[0] == 552
            assert client.getreply()[0] == 552
            assert client.noop()[0] == 250
        finally:
            client.close()
    (row,) = stored_rows(app)
    assert (row.source, row.rcpt_to) == ("lmtp", ["stopit@example.edu", "stopit+abc123@example.edu"])


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 / localhost."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_starttls_with_the_configured_certificate(app: App, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    app.settings.server.tls_certificate = str(cert)
    app.settings.server.tls_key = str(key)
    context = ssl.create_default_context(cafile=str(cert))
    message = report_message(10)
    with running_server(app) as server, smtplib.SMTP("localhost", server.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert client.starttls(context=context)[0] == 220
        assert isinstance(client.sock, ssl.SSLSocket)
        peer_cert = client.sock.getpeercert()
        assert peer_cert is not None and peer_cert["subject"] == ((("commonName", "localhost"),),)
        client.ehlo()
        client.sendmail("reporter10@example.org", ["stopit@example.edu"], message)
    assert [row.content for row in stored_rows(app)] == [message]


def test_no_starttls_without_a_certificate(app: App) -> None:
    with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo()
        assert not client.has_extn("starttls")


class SlowSink(ThreadedSink):
    """Stores for real, but only after a pause (a slow disk), to catch shutdown mid-commit."""

    async def store(self, content: bytes, envelope: Envelope) -> StoreResult:
        await asyncio.sleep(0.5)
        return await super().store(content, envelope)


def test_shutdown_lets_the_message_being_stored_finish_then_stops_listening(app: App) -> None:
    sink = SlowSink(app.factory, app.settings.limits.max_message_bytes)
    server_cm = running_server(app, sink=sink)
    server = server_cm.__enter__()
    port = server.port
    replies: list[object] = []

    def send() -> None:
        client = smtplib.SMTP("127.0.0.1", port, timeout=10)
        try:
            client.ehlo()
            client.mail("reporter11@example.org")
            client.rcpt("stopit@example.edu")
            replies.append(client.data(report_message(11)))
            replies.append(client.getreply())  # then the server says goodbye
        finally:
            client.close()

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert wait_until(lambda: server.limits.stores_in_flight == 1, 5, 0.005)
    finally:
        server_cm.__exit__(None, None, None)  # stop() while the commit is in flight
    sender.join(10)
    assert [reply[0] for reply in replies] == [250, 421]  # type: ignore[index]
    assert len(stored_rows(app)) == 1
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_unlimited_peers_are_not_throttled(app: App) -> None:
    """The MTA in front (here 127.0.0.1) relays everybody's mail: limits must not apply to it."""
    app.settings.server.max_messages_per_peer_per_minute = 2
    app.settings.server.unlimited_peers = ["127.0.0.0/8"]
    with running_server(app) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        for number in range(6):
            client.sendmail(f"r{number}@example.org", ["stopit@example.edu"], report_message(number))
