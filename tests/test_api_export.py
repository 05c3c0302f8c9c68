"""`cases export` through the staff API (issue 11): the service builds, the caller's command writes.

The package a staff member receives over the socket must be the very package the service would
write itself (same files, same bytes, a manifest that verifies), audited under their name, and
only for cases of their organisations. `verify-export` needs nothing but the package.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from test_api import ME, Served, serving

from stopit_mail.api.client import receive
from stopit_mail.cases.export import export_case
from stopit_mail.cases.package import verify_package
from stopit_mail.cases.queries import get_case
from stopit_mail.cases.staff import resolve_actor
from stopit_mail.errors import StopitError
from stopit_mail.models import Event

from casework_helpers import ingest, latest_case, report
from factories import cli

OTHER_ORGANISATION = """
[[organisations]]
slug = "west"
name = "West College"
mailboxes = ["stopit@west.example"]
case_prefix = "WC"

[[staff]]
name = "Wes"
organisations = ["west"]
"""


@pytest.fixture
def served() -> Iterator[Served]:
    with serving(OTHER_ORGANISATION) as running:
        yield running


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def without_export_time(files: dict[str, bytes]) -> dict[str, object]:
    """The package's content: every file, the manifest without the moment it was written."""
    manifest = json.loads(files["manifest.json"])
    manifest.pop("exported_at")
    return {**files, "manifest.json": manifest}


def test_the_package_received_over_the_socket_is_the_one_the_service_writes(served: Served, tmp_path: Path) -> None:
    # The case written in the service itself by the same staff member, in a transaction rolled back
    # so that the package over the socket sees the very same case (its timeline included).
    direct = tmp_path / "direct"
    with served.app.factory() as session:
        case = get_case(session, served.number)
        export_case(session, served.app.settings, resolve_actor(served.app.settings, "Root Admin"), case, direct)
        session.rollback()

    before = served.server.requests_served
    folder, zipped = tmp_path / "received", tmp_path / "received.zip"
    done = json.loads(cli(served.config, "cases", "export", served.number, "-o", str(folder), "--json"))
    cli(served.config, "cases", "export", served.number, "-o", str(zipped))
    assert served.server.requests_served == before + 2  # through the socket, not in-process
    assert done["case"] == served.number and done["files"] >= 6 and done["withheld"] == 0

    received = files_of(folder)
    assert without_export_time(received) == without_export_time(files_of(direct))
    assert "Please help me with this." in received["summary.html"].decode()
    with zipfile.ZipFile(zipped) as archive:
        # Written after the first export, whose event is now in the timeline: the rest is the same.
        zipped_files = {n: archive.read(n) for n in archive.namelist()}
    assert set(zipped_files) == set(received)
    assert {n: c for n, c in zipped_files.items() if n.startswith(("originals/", "evidence/", "verification"))} == \
        {n: c for n, c in received.items() if n.startswith(("originals/", "evidence/", "verification"))}
    for package in (folder, zipped, direct):
        assert verify_package(package).problems == []
    assert verify_package(folder).manifest_sha256 == done["manifest_sha256"]

    with served.app.factory() as session:
        exports = session.scalars(select(Event).where(Event.action == "case-exported").order_by(Event.id)).all()
    assert [(e.actor, e.unix_user) for e in exports[:2]] == [("Root Admin", ME)] * 2
    assert exports[0].detail["manifest_sha256"] == done["manifest_sha256"]
    # The audit log knows this package; the package alone still verifies without it.
    audited = json.loads(cli(served.config, "verify-export", str(folder), "--audit", "--json"))
    assert audited["recorded_export"]["actor"] == "Root Admin" and audited["problems"] == []


def test_another_organisations_case_is_refused_and_nothing_is_written(served: Served, tmp_path: Path) -> None:
    target = tmp_path / "theirs.zip"
    refused = cli(served.config, "--as", "Wes", "cases", "export", served.number, "-o", str(target), ok=False)
    assert "Wes" in refused and not target.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    cli(served.config, "--as", "Wes", "cases", "export", served.number, "-o", str(empty), ok=False)
    assert list(empty.iterdir()) == []
    with served.app.factory() as session:
        assert not session.scalars(select(Event).where(Event.action == "case-exported")).all()


def test_a_place_the_package_cannot_go_is_said_plainly(served: Served, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    said = cli(served.config, "cases", "export", served.number, "-o", str(blocker / "case.zip"), ok=False)
    assert f"the package was not written to {blocker / 'case.zip'}: Not a directory" in said


def test_an_anonymous_reporter_stays_out_of_a_package_sent_over_the_socket(served: Served, tmp_path: Path) -> None:
    secret = "sasha.quinn@example.edu"
    ingest(served.app, report(reporter=secret, name="Sasha Quinn", subject="Fwd: anonymous please",
                              wrapper="Please keep this anonymous"), mail_from=secret)
    number = latest_case(served.app).number
    out = tmp_path / "anon.zip"
    cli(served.config, "cases", "export", number, "-o", str(out))
    with zipfile.ZipFile(out) as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist())
        assert json.loads(archive.read("manifest.json"))["withheld"]
    assert secret.encode() not in everything and b"Sasha" not in everything
    # With the reveal role and a reason the originals come too, the reveal audited before the bytes left.
    full = tmp_path / "full"
    cli(served.config, "--as", "Ada", "cases", "export", number, "-o", str(full), "--with-identity",
        "--reason", "police request 2026-118")
    assert secret.encode() in b"".join(files_of(full).values())
    with served.app.factory() as session:
        actions = [(e.action, e.actor) for e in session.scalars(select(Event).order_by(Event.id))]
    assert actions[-2:] == [("identity-revealed", "Ada"), ("case-exported", "Ada")]


def test_verify_export_needs_no_configuration_data_or_service(served: Served, tmp_path: Path) -> None:
    package = tmp_path / "p.zip"
    cli(served.config, "cases", "export", served.number, "-o", str(package))
    served.server.stop()
    elsewhere = tmp_path / "nowhere"
    elsewhere.mkdir()
    # A fresh interpreter in a folder with no stopit.toml, pointed at a configuration that does not exist.
    code = ("import sys; from stopit_mail.cli import main; sys.argv = ['stopit', '-c', '/nonexistent/stopit.toml', "
            f"'verify-export', {str(package)!r}, '--json']; main()")
    checked = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                             cwd=elsewhere, timeout=60)
    assert checked.returncode == 0, checked.stderr[-2000:]
    result = json.loads(checked.stdout)
    assert result["problems"] == [] and result["case"] == served.number and result["exported_by"] == "Root Admin"
    loaded = {line.split("|")[-1].strip() for line in checked.stderr.splitlines() if "|" in line}
    assert not {"sqlalchemy", "stopit_mail.config", "stopit_mail.api.client", "rich"} & loaded


def test_a_cut_or_altered_package_stream_is_refused() -> None:
    body = b"PK-pretend-package"
    answer = {"ok": True, "stream": {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}}
    kept = io.BytesIO()
    receive(io.BytesIO(body), answer, kept)
    assert kept.getvalue() == body
    with pytest.raises(StopitError, match="stopped sending with 5 bytes still to come"):
        receive(io.BytesIO(body[:-5]), answer, io.BytesIO())
    with pytest.raises(StopitError, match="does not match its SHA-256"):
        receive(io.BytesIO(body.replace(b"pretend", b"altered")), answer, io.BytesIO())
    with pytest.raises(StopitError, match="did not ask for"):
        receive(io.BytesIO(body), answer, None)
