"""An evidence package through the staff API: time and peak memory against the package's size.

Builds an installation holding one case whose report carries `--attachments` attachments of
`--megabytes` MB each (random, so nothing compresses), starts `stopit api serve` as its own
process, and runs `stopit cases export` in a fresh process twice: through the running service,
and in-process (the service stopped; the data folder's owner builds the package itself, the
bare reference). It prints the seconds of each, their ratio, and the peak RSS of the client and
of the service next to the package's size (a bounded export keeps both well under it).

    python bench/export.py [--attachments 4] [--megabytes 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

STOPIT = [sys.executable, "-m", "stopit_mail"]


def build(base: Path, attachments: int, megabytes: int) -> None:
    from stopit_mail.app import init_installation, open_app
    from stopit_mail.ingest.rawstore import Envelope
    from stopit_mail.ingest.service import IngestSummary, ingest_one

    config = init_installation(base, "Bench University", "stopit@example.edu")
    text = config.read_text().replace('socket = "run/stopit.sock"', f'socket = "{base}/run/api.sock"')
    config.write_text(text.replace("max_message_bytes = 104857600", "max_message_bytes = 1073741824"))
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Vic <victim@example.edu>", "stopit@example.edu", "Fwd: photos"
    msg.set_content("They keep sending these to everyone in my class.")
    for i in range(attachments):
        msg.add_attachment(os.urandom(megabytes << 20), maintype="application", subtype="octet-stream",
                           filename=f"capture-{i}.bin")
    app = open_app(config)
    ingest_one(app, msg.as_bytes(), Envelope("smtp", mail_from="victim@example.edu",
                                             rcpt_to=["stopit@example.edu"]), IngestSummary())
    app.close()


def export(config: Path, output: Path) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of `stopit cases export 1 -o output` in a fresh process."""
    started = time.perf_counter()
    child = subprocess.Popen([*STOPIT, "-c", str(config), "cases", "export", "1", "-o", str(output)],
                             stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "export failed"
    return time.perf_counter() - started, usage.ru_maxrss


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attachments", type=int, default=4)
    parser.add_argument("--megabytes", type=int, default=16)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(args.build, args.attachments, args.megabytes)
        return
    base = Path(tempfile.mkdtemp(prefix="stopit-bench-"))
    try:
        # Built in a process of its own: a child forked from a process holding the message would
        # count that memory as its own peak.
        subprocess.run([sys.executable, __file__, "--build", str(base), "--attachments", str(args.attachments),
                        "--megabytes", str(args.megabytes)], check=True)
        config = base / "stopit.toml"
        service = subprocess.Popen([*STOPIT, "-c", str(config), "api", "serve"], stderr=subprocess.DEVNULL)
        while not (base / "run" / "api.sock").exists():
            time.sleep(0.05)
        idle = peak_rss(service.pid)
        api_seconds, api_client = export(config, base / "api.zip")
        served_peak = peak_rss(service.pid)
        service.send_signal(signal.SIGTERM)
        service.wait(30)
        local_seconds, local_client = export(config, base / "local.zip")
        size = (base / "api.zip").stat().st_size
        print(f"package: {size / 2**20:.1f} MiB ({args.attachments} x {args.megabytes} MB attachments + the original)")
        print(f"through the API: {api_seconds:.2f} s; in-process: {local_seconds:.2f} s; "
              f"ratio {api_seconds / local_seconds:.2f}")
        print(f"peak RSS: client {api_client / 1024:.0f} MiB (in-process export {local_client / 1024:.0f} MiB); "
              f"service {served_peak / 1024:.0f} MiB ({idle / 1024:.0f} MiB before the export)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
