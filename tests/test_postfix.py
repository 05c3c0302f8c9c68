"""Behind a real MTA: Postfix relays a report to us, and relays our acknowledgement onwards.

A private Postfix instance (its own configuration, queue and data folders, listening only on
127.0.0.1 on a free high port) stands in for the organisation's mail server:

    test client --SMTP--> Postfix --SMTP or LMTP--> stopit listener --> worker
    worker --acknowledgement--> Postfix --SMTP--> sink (the reporter's mail server)

The test skips cleanly when Postfix is not installed (`.ci/run` installs it), when we are not
root (the master starts as root and drops to `mail_owner`), or when the instance cannot start.
"""

from __future__ import annotations

import email
import os
import pwd
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from stopit_mail.app import App
from stopit_mail.models import OutboxMessage, OutboxStatus, RawMessage, RawStatus

from smtp_helpers import CaptureHandler, capture_server, free_port, report_message, running_server, wait_until

POSTFIX = Path("/usr/sbin/postfix")
POSTCONF = Path("/usr/sbin/postconf")

# Only the services a relay needs; chroot off everywhere (no copied /etc inside the queue).
MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-stopit-test
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = mx.stopit-test.example
mydomain = stopit-test.example
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery here
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = example.edu
transport_maps = texthash:{root}/etc/transport
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_tls_security_level = none
smtpd_tls_security_level = none
lmtp_tls_security_level = none
smtp_dns_support_level = disabled
disable_dns_lookups = yes
smtp_host_lookup = native
lmtp_host_lookup = native
biff = no
append_dot_mydomain = no
readme_directory = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
multi_instance_enable = no
"""


def _unavailable(reason: str) -> None:
    """Skip where Postfix may be half set up; on CI (which installs it) a Postfix that is there but
    will not run is a failure, not a silent skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class PrivatePostfix:
    """One Postfix instance in its own folders, started and stopped by the test."""

    def __init__(self, root: Path, port: int, stopit_next_hop: str, sink_port: int) -> None:
        self.root, self.port = root, port
        self.etc = root / "etc"
        self.etc.mkdir(parents=True)
        for name in ("spool", "data"):
            (root / name).mkdir()
        (self.etc / "main.cf").write_text(MAIN_CF.format(root=root))
        (self.etc / "master.cf").write_text(MASTER_CF.format(listen=f"127.0.0.1:{port}"))
        (self.etc / "transport").write_text(
            f"example.edu {stopit_next_hop}\nexample.org smtp:[127.0.0.1]:{sink_port}\n")
        (root / "data").chmod(0o755)
        shutil.chown(root / "data", "postfix")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(POSTFIX), "-c", str(self.etc), *args], capture_output=True, text=True,
                              timeout=60, check=False)

    def start(self) -> None:
        check = self.run("check")
        if check.returncode != 0:
            _unavailable(f"postfix check failed: {check.stderr.strip()[:500]}")
        started = self.run("start")
        if started.returncode != 0:
            _unavailable(f"postfix could not start: {started.stderr.strip()[:500]}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=2) as probe:
                    probe.noop()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        pytest.skip(f"postfix did not listen on 127.0.0.1:{self.port}: {self.log()[-500:]}")

    def stop(self) -> None:
        self.run("stop")
        pid_file = self.root / "spool" / "pid" / "master.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        try:
            os.kill(pid, signal.SIGKILL)  # the master of this instance only, by its PID file
        except ProcessLookupError:
            pass

    def log(self) -> str:
        try:
            return (self.root / "maillog").read_text(errors="replace")
        except OSError:
            return ""


@pytest.fixture
def postfix_root() -> Iterator[Path]:
    """A world-traversable folder (Postfix daemons run as `postfix`, not root)."""
    if not POSTFIX.exists():
        pytest.skip("Postfix is not installed (/usr/sbin/postfix missing; .ci/run installs it)")
    if os.geteuid() != 0:
        pytest.skip("a private Postfix instance needs root (its master starts as root)")
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        pytest.skip("no 'postfix' user (mail_owner) on this machine")
    # Postfix creates its queue folders under the caller's umask and its daemons (as `postfix`)
    # must traverse them: whatever umask an earlier test left (`serve` sets 0o077), use 0o022.
    umask = os.umask(0o022)
    root = Path(tempfile.mkdtemp(prefix="stopit-postfix-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        os.umask(umask)
        shutil.rmtree(root, ignore_errors=True)


def _report_travels_through_postfix(app: App, postfix_root: Path, protocol: str) -> None:
    sink = CaptureHandler()
    postfix_port = free_port()
    app.settings.server.protocol = protocol
    app.settings.outbound.relay = f"127.0.0.1:{postfix_port}"
    app.settings.outbound.starttls = False
    with capture_server(sink) as sink_port, running_server(app, run_worker=True) as server:
        hop = f"lmtp:inet:127.0.0.1:{server.port}" if protocol == "lmtp" else f"smtp:[127.0.0.1]:{server.port}"
        postfix = PrivatePostfix(postfix_root, postfix_port, hop, sink_port)
        postfix.start()
        try:
            report = report_message(1, sender="jordan@example.org")
            with smtplib.SMTP("127.0.0.1", postfix_port, timeout=10) as client:
                client.sendmail("jordan@example.org", ["stopit@example.edu"], report)
            arrived = wait_until(lambda: len(sink.messages) >= 1, 45, 0.2)
            assert arrived, f"no acknowledgement reached the sink; Postfix log:\n{postfix.log()[-3000:]}"
        finally:
            postfix.stop()
    with app.factory() as session:
        (raw,) = session.scalars(select(RawMessage)).all()
        outbox = session.scalars(select(OutboxMessage)).all()
        stored_content = raw.content
    # Postfix added its Received line on top; the report itself arrived intact.
    assert stored_content.startswith(b"Received: from ")
    assert stored_content.endswith(report.split(b"\r\n\r\n", 1)[1])
    assert (raw.source, raw.status, raw.peer) == (protocol, RawStatus.PROCESSED, "127.0.0.1")
    assert [row.status for row in outbox] == [OutboxStatus.SENT]
    (envelope_from, recipients, content) = sink.messages[0]
    assert recipients == ["jordan@example.org"]
    assert envelope_from in ("", "<>")  # acknowledgements use the null sender (no bounce loops)
    ack = email.message_from_bytes(content)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["To"] == "jordan@example.org"
    assert ack["From"].endswith("@example.edu>") and "stopit+" in ack["From"]


def test_report_via_postfix_smtp_and_acknowledgement_via_postfix(app: App, postfix_root: Path) -> None:
    _report_travels_through_postfix(app, postfix_root, "smtp")


def test_report_via_postfix_lmtp(app: App, postfix_root: Path) -> None:
    _report_travels_through_postfix(app, postfix_root, "lmtp")
