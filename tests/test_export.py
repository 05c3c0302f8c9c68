"""Evidence packages: byte-exact originals, a manifest that catches any change, identity only by reveal."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from click.testing import CliRunner

from stopit_mail.app import App
from stopit_mail.cli import main
from stopit_mail.models import Event

from casework_helpers import ingest, latest_case, report
from conftest import EXAMPLES

SECRET = "sasha.quinn@example.edu"


def cli(app: App, *args: str, ok: bool = True) -> str:
    config = str(app.settings.base_dir / "stopit.toml")
    result = CliRunner().invoke(main, ["-c", config, "--as", "Pat", *args])
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def test_package_holds_the_original_bytes_and_verifies(app: App, tmp_path: Path) -> None:
    original = (EXAMPLES / "01-attached-original.eml").read_bytes()
    cli(app, "ingest", str(EXAMPLES / "01-attached-original.eml"))
    number = latest_case(app).number
    out = tmp_path / "package"
    digest = json.loads(cli(app, "cases", "export", number, "-o", str(out), "--json"))["manifest_sha256"]
    assert (out / "originals").is_dir() and list((out / "originals").iterdir())[0].read_bytes() == original
    evidence = next((out / "evidence").iterdir()).read_bytes()
    assert evidence in original  # the attached original, exactly as it was inside the report
    verification = json.loads((out / "verification.json").read_text())
    assert verification[0]["analysis"]["trace"]["origin"]["ip"] == "203.0.113.77"
    assert "case-opened" in (out / "timeline.json").read_text()
    assert "Delete your account" in (out / "summary.html").read_text()
    checked = json.loads(cli(app, "verify-export", str(out), "--audit", "--json"))
    assert checked["problems"] == [] and checked["manifest_sha256"] == digest
    assert checked["recorded_export"]["actor"] == "Pat"
    # One changed byte anywhere, a missing file or a file slipped in: each is caught.
    target = next((out / "evidence").iterdir())
    target.write_bytes(target.read_bytes().replace(b"regret", b"REGRET", 1))
    assert "changed: evidence/" in cli(app, "verify-export", str(out), ok=False)
    (out / "timeline.json").unlink()
    (out / "extra.txt").write_text("planted")
    found = json.loads(CliRunner().invoke(main, ["verify-export", str(out), "--json"]).output)["problems"]
    assert "missing: timeline.json" in found and "not in the manifest: extra.txt" in found


def test_anonymous_case_package_names_nobody_without_a_reveal(app: App, tmp_path: Path) -> None:
    ingest(app, report(reporter=SECRET, name="Sasha Quinn", subject="Fwd: anonymous please",
                       wrapper="Please keep this anonymous, I am scared"), mail_from=SECRET)
    number = latest_case(app).number
    zipped = tmp_path / "plain.zip"
    cli(app, "cases", "export", number, "-o", str(zipped))
    with zipfile.ZipFile(zipped) as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
    assert SECRET.encode() not in everything and b"Sasha" not in everything
    assert manifest["withheld"] and manifest["with_identity"] is False
    assert "Please keep this anonymous" in everything.decode("utf-8", "replace")
    # With the reveal role and a reason, the originals come too, and the reveal is audited.
    refused = cli(app, "cases", "export", number, "-o", str(tmp_path / "full"), "--with-identity", ok=False)
    assert "reason" in refused
    config = app.settings.base_dir / "stopit.toml"
    config.write_text(config.read_text() + '\n[[staff]]\nname = "Pat"\nroles = ["staff", "reveal"]\n')
    cli(app, "cases", "export", number, "-o", str(tmp_path / "full"), "--with-identity",
        "--reason", "police request 2026-118, subpoena attached")
    originals = b"".join(p.read_bytes() for p in (tmp_path / "full" / "originals").iterdir())
    assert SECRET.encode() in originals
    with app.factory() as session:
        actions = [e.action for e in session.query(Event).order_by(Event.id)]
    assert actions[-2:] == ["identity-revealed", "case-exported"]
