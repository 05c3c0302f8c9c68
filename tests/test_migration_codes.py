"""Migration 0005 backfills per-case and per-party codes on rows written before they existed.

Issue 10, item 5: a case from before migration 0002 has no sender code, and notices then went
out from the reporter's own alias. After 0005 every such case has a sender alias of its own,
its first report keeps the code it was told, and notices never use a reporter's code.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, select, text

from stopit_mail.app import open_app
from stopit_mail.cases.notices import prepare_notice
from stopit_mail.db import alembic_config
from stopit_mail.models import Case, CaseAlias

from conftest import make_installation

LEGACY = [
    "INSERT INTO cases (id, number, reporter_code, organisation, status, title, urgency, categories, opened_at, updated_at) "
    "VALUES (1, 'SI-2025-0001', 'legacycode01', 'main', 'new', 't', 'routine', '[]', '2025-01-01', '2025-01-01')",
    "INSERT INTO raw_messages (id, sha256, size, content, received_at, source, rcpt_to, status, kind, defects, attempts) "
    "VALUES (1, 'aa', 1, x'00', '2025-01-01', 'file', '[]', 'processed', 'report', '[]', 1)",
    "INSERT INTO raw_messages (id, sha256, size, content, received_at, source, rcpt_to, status, kind, defects, attempts) "
    "VALUES (2, 'bb', 1, x'00', '2025-01-01', 'file', '[]', 'processed', 'report', '[]', 1)",
    "INSERT INTO reports (id, case_id, raw_message_id, reporter_address, subject, wrapper_text, received_at) "
    "VALUES (1, 1, 1, 'first@example.edu', 's', '', '2025-01-01')",
    "INSERT INTO reports (id, case_id, raw_message_id, reporter_address, subject, wrapper_text, received_at) "
    "VALUES (2, 1, 2, 'second@example.edu', 's', '', '2025-01-02')",
    "INSERT INTO parties (case_id, role, address, display_name, domain) "
    "VALUES (1, 'alleged-sender', 'offender@example.net', '', 'example.net')",
]


def test_cases_from_before_0002_get_a_sender_code_and_per_report_aliases(tmp_path: Path) -> None:
    make_installation(tmp_path).close()  # the configuration and the identity key
    legacy_url = f"sqlite:///{tmp_path / 'legacy.db'}"
    engine = create_engine(legacy_url)
    cfg = alembic_config(legacy_url)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
    with engine.begin() as connection:
        for statement in LEGACY:
            connection.execute(text(statement))
    engine.dispose()
    config = tmp_path / "stopit.toml"
    config.write_text(config.read_text().replace('database_url = ""', f'database_url = "{legacy_url}"', 1))

    app = open_app(tmp_path / "stopit.toml")
    with app.factory() as session, session.begin():
        case = session.scalars(select(Case)).one()
        assert case.sender_code and case.sender_code != case.reporter_code
        aliases = {(a.side, a.report_id): a.code for a in session.scalars(select(CaseAlias))}
        assert aliases[("reporter", 1)] == "legacycode01"  # the code the first reporter was told
        assert aliases[("reporter", 2)] not in ("legacycode01", case.sender_code)
        assert aliases[("alleged-sender", None)] == case.sender_code
        notice = prepare_notice(app.settings, case).preview()
        assert f"stopit+{case.sender_code}@example.edu" in notice and "legacycode01" not in notice
    app.close()
