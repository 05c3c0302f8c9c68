"""Evidence packages through the API: built in the service, streamed to the caller's command.

The service alone reads the database, the raw store and the identity key, so it builds the
package, spooled to an unnamed file in the data folder (never whole in memory), and commits the
export (and any reveal it needed) to the audit log under the caller's name before a byte leaves.
The caller's command then writes the folder or zip with the caller's own permissions.
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import Any

from stopit_mail.api.registry import Call, Params, Streamed, method

CHUNK = 1 << 16


@method("cases.export", "number", "with_identity", "reason")
def cases_export(call: Call, params: Params) -> Streamed:
    """The case's evidence package as a zip, streamed after the answer; identity only with an audited reveal."""
    from stopit_mail.cases.export import export_zip

    number = params.text("number", required=True)
    with_identity, reason = params.flag("with_identity"), params.text("reason", "")
    # O_TMPFILE where the system has it: the spool has no name, and vanishes with the process.
    spool = tempfile.TemporaryFile(dir=call.settings.data_path)
    try:
        with call.case(number) as (session, case, actor):
            summary = export_zip(session, call.settings, actor, case, spool, with_identity, reason)
        size = spool.seek(0, 2)
        spool.seek(0)
        digest = hashlib.sha256()
        while chunk := spool.read(CHUNK):
            digest.update(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return Streamed(summary, spool, size, digest.hexdigest())


@method("cases.export_record", "number", "manifest_sha256")
def cases_export_record(call: Call, params: Params) -> dict[str, Any]:
    """Whether this installation exported the package whose manifest has this SHA-256, when and by whom."""
    from stopit_mail.cases.export import recorded_export

    digest = params.text("manifest_sha256", required=True)
    with call.case(params.text("number", required=True)) as (session, case, _actor):
        return {"case": case.number, "recorded": recorded_export(session, case.number, digest)}
