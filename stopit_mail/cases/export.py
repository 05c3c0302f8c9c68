"""Evidence packages for police or a Title IX office, and their verification.

`export_case` writes one folder (or zip) holding what an investigator needs, byte for byte:
every stored original message (.eml), every attachment, the verification record of each
evidence item (DKIM/ARC verdicts, the keys used, the Received trace), the timeline with the
audit log, a readable summary, and `manifest.json` naming every file with its SHA-256. The
manifest's own digest is recorded in the case's audit log, so `verify_package` can say both
"no byte changed since export" and, with the installation at hand, "this is the package we
exported on that day".

Identity: on a case with an anonymous reporter, the reporters' original messages (and any
message from or to them) name them, so they are left out and listed as withheld unless the
export goes with an audited reveal (`with_identity` plus a reason; reveal role).
"""

from __future__ import annotations

import hashlib
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopit_mail import __version__, events
from stopit_mail.cases.anonymity import reveal
from stopit_mail.cases.identity_gate import is_identifying
from stopit_mail.cases.package import (
    MANIFEST,
    ExportError,
    FolderWriter,
    PackageWriter,
    ZipWriter,
    check_new_target,
    verify_package,
)
from stopit_mail.cases.queries import case_detail
from stopit_mail.cases.reporter_traces import reporter_traces
from stopit_mail.cases.staff import Actor
from stopit_mail.config import Settings
from stopit_mail.headers.stored import expand
from stopit_mail.models import Case, Event, RawMessage
from stopit_mail.outbound.redact import redact_file
from stopit_mail.sealing import open_bytes

EXPORT_EVENT = "case-exported"
# Re-exported for the callers that knew them here.
__all__ = ["EXPORT_EVENT", "MANIFEST", "ExportError", "export_case", "recorded_export", "verify_package",
           "write_package"]


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=True).encode("utf-8")


def _safe_name(name: str | None, fallback: str) -> str:
    """A file name that cannot leave its folder or confuse a reader's tools."""
    cleaned = "".join(c if c.isalnum() or c in "._- " else "_" for c in (name or "")).strip(" .")
    return (cleaned or fallback)[:100]


def _originals(session: Session, settings: Settings, case: Case, package: PackageWriter, identity: bool) -> None:
    reporter_raw = {r.raw_message_id for r in case.reports}
    raws = session.scalars(select(RawMessage).where(RawMessage.case_id == case.id).order_by(RawMessage.id)).all()
    for raw in raws:
        kind = "report" if raw.id in reporter_raw else raw.kind.value
        path = f"originals/{raw.id:06d}-{kind}.eml"
        # A non-anonymous case can hold one that asked for anonymity (an unparsed emergency, paged).
        if not identity and (case.anonymous or is_identifying(session, settings, raw)):
            package.withheld.append({"path": path, "why": "names the anonymous reporter; export with an audited "
                                                           "reveal (--with-identity --reason) to include it"})
            continue
        package.add(path, open_bytes(settings, raw.content))  # sealed at rest: opened for the export


def _evidence(settings: Settings, case: Case, package: PackageWriter, identity: bool) -> list[dict[str, Any]]:
    records = []
    for item in case.evidence:
        record = {"id": item.id, "kind": item.kind, "completeness": item.completeness.value,
                  "sha256": item.sha256, "from": item.orig_from_address, "subject": item.orig_subject,
                  "date": item.orig_date, "message_id": item.orig_message_id, "analysis": expand(item.analysis)}
        if item.content is not None:
            if item.kind == "attachment":
                path = f"attachments/{item.id:06d}-{_safe_name(item.filename, 'attachment')}"
            else:
                path = f"evidence/{item.id:06d}-{item.kind}.eml"
            # Evidence was usually sent *to* the reporter: on an anonymous case it names them.
            if case.anonymous and not identity and item.kind != "attachment":
                package.withheld.append({"path": path, "why": "the original was sent to the anonymous reporter "
                                                               "and names them; export with an audited reveal"})
            elif case.anonymous and not identity:
                # A screenshot's metadata (GPS, author, device) can name the reporter: stripped.
                redacted = redact_file(open_bytes(settings, item.content), item.content_type or "", item.filename or "",
                                       reporter_traces(settings, case))
                if redacted.content is None:
                    package.withheld.append({"path": path, "why": "cannot be redacted with certainty; export "
                                                                   "with an audited reveal"})
                else:
                    package.add(path, redacted.content)
                    record["file"] = path
            else:
                package.add(path, open_bytes(settings, item.content))
                record["file"] = path
        records.append(record)
    return records


def _summary_html(detail: dict[str, Any], manifest: list[dict[str, Any]], withheld: list[dict[str, str]]) -> bytes:
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(f['path'])}</td><td>{f['size']:,}</td><td><code>{f['sha256']}</code></td></tr>"
                   for f in manifest)
    evidence = "".join(
        f"<section><h3>Evidence {e['id']}: {esc(e['kind'])} ({esc(e['completeness'])})</h3>"
        f"<p>From: {esc(str(e['from']['address'] or e['from']['name'] or '-'))}<br>"
        f"Subject: {esc(str(e['subject'] or '-'))}<br>Date: {esc(str(e['date'] or '-'))}</p>"
        f"<pre>{esc((e.get('text') or '')[:20000])}</pre></section>" for e in detail["evidence"])
    reports = "".join(f"<section><h3>Report {r['id']} received {esc(str(r['received_at']))}</h3>"
                      f"<pre>{esc(r['wrapper_text'] or '')}</pre></section>" for r in detail["reports"])
    kept_back = "".join(f"<li>{esc(w['path'])}: {esc(w['why'])}</li>" for w in withheld)
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Case {esc(detail['number'])}</title></head><body><main>"
        f"<h1>Case {esc(detail['number'])}: {esc(detail['title'] or '')}</h1>"
        f"<p>Status {esc(detail['status'])}; urgency {esc(detail['urgency'])}; categories "
        f"{esc(', '.join(detail['categories'] or []))}; opened {esc(str(detail['opened_at']))}.</p>"
        f"<h2>What the reporter wrote</h2>{reports}<h2>Evidence</h2>{evidence}"
        + (f"<h2>Withheld</h2><ul>{kept_back}</ul>" if withheld else "")
        + f"<h2>Files</h2><table><tr><th>file</th><th>bytes</th><th>SHA-256</th></tr>{rows}</table>"
        "</main></body></html>")
    return page.encode("utf-8")


def build_package(session: Session, settings: Settings, actor: Actor, case: Case, package: PackageWriter,
                  with_identity: bool = False, reason: str = "") -> bool:
    """Write every file of the package for `case` but the manifest; identity only through an audited reveal.

    Returns whether identity went in (the reveal was made and recorded in `session`).
    """
    actor.check_case(case)
    identity = False
    if with_identity and (case.anonymous or any(is_identifying(session, settings, raw) for raw in session.scalars(
            select(RawMessage).where(RawMessage.case_id == case.id)))):
        reveal(session, settings, actor, case, reason)
        identity = True
    detail = case_detail(session, case.number, actor)
    if case.anonymous and not identity:
        for report in detail["reports"]:
            report["reporter"] = {"name": None, "address": None}
        detail["parties"] = [p for p in detail["parties"] if p["role"] != "reporter"]
    _originals(session, settings, case, package, identity)
    verification = _evidence(settings, case, package, identity)
    package.add("verification.json", _json(verification))
    package.add("timeline.json", _json(detail["timeline"]))
    package.add("case.json", _json({k: v for k, v in detail.items() if k != "timeline"}))
    package.add("summary.html", _summary_html(detail, package.listing(), package.withheld))
    return identity


def write_package(session: Session, settings: Settings, actor: Actor, case: Case, package: PackageWriter,
                  with_identity: bool = False, reason: str = "") -> dict[str, Any]:
    """Write the whole package (manifest last) and record the export in the case's audit log.

    Returns what the export event records: the manifest's SHA-256, the number of files and of
    withheld ones, and whether identity went in.
    """
    try:
        build_package(session, settings, actor, case, package, with_identity, reason)
        listed = package.listing()
        manifest: dict[str, Any] = {
            "format": "stopit-mail evidence package 1", "case": case.number,
            "exported_at": datetime.now(UTC).isoformat(), "exported_by": actor.name, "stopit_mail": __version__,
            "with_identity": with_identity and case.anonymous, "files": listed, "withheld": package.withheld,
        }
        manifest_bytes = _json(manifest)
        digest = hashlib.sha256(manifest_bytes).hexdigest()
        package.add(MANIFEST, manifest_bytes)
    finally:
        package.close()  # also when refused half-way: a zip must not be finished by the collector later
    summary = {"case": case.number, "manifest_sha256": digest, "files": len(listed),
               "withheld": len(package.withheld), "with_identity": manifest["with_identity"]}
    events.record(session, EXPORT_EVENT, case.id, actor=actor.name, automatic=False, manifest_sha256=digest,
                  files=len(listed), withheld=len(package.withheld), with_identity=manifest["with_identity"])
    return summary


def export_zip(session: Session, settings: Settings, actor: Actor, case: Case, stream: IO[bytes],
               with_identity: bool = False, reason: str = "") -> dict[str, Any]:
    """Write the package as a zip onto `stream` (what the staff API sends); see `write_package`."""
    return write_package(session, settings, actor, case, ZipWriter(stream), with_identity, reason)


def export_case(session: Session, settings: Settings, actor: Actor, case: Case, output: Path,
                with_identity: bool = False, reason: str = "") -> str:
    """Write the package to `output` (a new folder, or a .zip file); return the manifest's SHA-256."""
    check_new_target(output)
    if output.suffix.lower() == ".zip":
        with output.open("xb") as stream:
            return str(export_zip(session, settings, actor, case, stream, with_identity, reason)["manifest_sha256"])
    summary = write_package(session, settings, actor, case, FolderWriter(output), with_identity, reason)
    return str(summary["manifest_sha256"])


def recorded_export(session: Session, case_number: str, manifest_sha256: str) -> dict[str, Any] | None:
    """The audit event of the export whose manifest has this digest, if this installation made it."""
    rows = session.execute(select(Event.at, Event.actor, Event.detail).join(Case, Case.id == Event.case_id).where(
        Case.number == case_number, Event.action == EXPORT_EVENT)).all()
    for at, actor, detail in rows:
        if (detail or {}).get("manifest_sha256") == manifest_sha256:
            return {"at": at.isoformat() if at else None, "actor": actor}
    return None


