"""casework: outcome codes, indexes for a million cases, full-text search

Revision ID: 0010
Revises: 0003
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0003'
branch_labels = None
depends_on = None


# SQLite: one FTS5 table with the trigram tokenizer (case-insensitive substring search, as
# `cases search` always did, but through an index). Triggers keep it current whichever layer
# writes (ORM or Core, pipeline or merge or purge). The rowid says where a row came from:
# id * 4 + 0 report, + 1 evidence, + 2 event (notes and replies), + 3 case (title and number).
# A reporter's address and name are indexed only when not sealed (anonymous reports keep them
# out of every table, this one included).
# Each body is written once with `{r}` standing for the row: `new.` in a trigger, nothing in the backfill.
_REPORT_BODY = ("coalesce({r}subject, '') || char(10) || coalesce({r}wrapper_text, '') || char(10) || "
                "CASE WHEN {r}sealed_identity IS NULL THEN coalesce({r}reporter_address, '') || ' ' || "
                "coalesce({r}reporter_name, '') ELSE '' END")
_EVIDENCE_BODY = ("coalesce({r}orig_subject, '') || char(10) || coalesce({r}orig_from_name, '') || ' ' || "
                  "coalesce({r}orig_from_address, '') || char(10) || coalesce({r}filename, '') || char(10) || "
                  "coalesce({r}body_text, '')")
_EVENT_BODY = "coalesce(json_extract({r}detail, '$.text'), '')"
_EVENT_WHEN = "{r}action IN ('note-added', 'reply-received', 'staff-reply-queued')"
_CASE_BODY = "coalesce({r}number, '') || char(10) || coalesce({r}title, '')"
_SOURCES = (  # table, rowid offset, body, condition, case id column
    ("reports", 0, _REPORT_BODY, "1", "case_id"),
    ("evidence", 1, _EVIDENCE_BODY, "1", "case_id"),
    ("events", 2, _EVENT_BODY, _EVENT_WHEN, "case_id"),
    ("cases", 3, _CASE_BODY, "1", "id"),
)
# PostgreSQL: trigram GIN indexes make the same substring search use an index.
_PG_TRGM = (("reports", "wrapper_text"), ("reports", "subject"), ("evidence", "body_text"),
            ("evidence", "orig_subject"), ("evidence", "orig_from_address"), ("evidence", "orig_from_name"),
            ("cases", "title"))


def _rows(offset: int, body: str, when: str, case_id: str, r: str) -> str:
    """SELECT (rowid, body, case_id) for one source; `r` is the row prefix ('new.' or '')."""
    return f"SELECT {r}id * 4 + {offset}, {body.format(r=r)}, {r}{case_id}"


def _sqlite_search() -> None:
    op.execute("CREATE VIRTUAL TABLE search_text USING fts5(body, case_id UNINDEXED, tokenize='trigram')")
    for table, offset, body, when, case_id in _SOURCES:
        insert = (f"INSERT INTO search_text(rowid, body, case_id) {_rows(offset, body, when, case_id, 'new.')} "
                  f"WHERE {when.format(r='new.')};")
        delete = f"DELETE FROM search_text WHERE rowid = old.id * 4 + {offset};"
        op.execute(f"CREATE TRIGGER search_{table}_ai AFTER INSERT ON {table} BEGIN {insert} END")
        # A case row changes often (status, urgency); only its number and title are indexed.
        of = " OF number, title" if table == "cases" else ""
        op.execute(f"CREATE TRIGGER search_{table}_au AFTER UPDATE{of} ON {table} BEGIN {delete} {insert} END")
        op.execute(f"CREATE TRIGGER search_{table}_ad AFTER DELETE ON {table} BEGIN {delete} END")
        op.execute(f"INSERT INTO search_text(rowid, body, case_id) {_rows(offset, body, when, case_id, '')} "
                   f"FROM {table} WHERE {when.format(r='')}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_search()
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for table, column in _PG_TRGM:
            op.execute(f"CREATE INDEX ix_{table}_{column}_trgm ON {table} USING gin (lower({column}) gin_trgm_ops)")
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))
        batch_op.create_index('ix_cases_outcome', ['outcome'], unique=False)
        # What `cases list` filters and sorts by, and what `stats` groups by, at a million cases.
        batch_op.create_index('ix_cases_status', ['status', 'id'], unique=False)
        batch_op.create_index('ix_cases_urgency', ['urgency', 'id'], unique=False)
        batch_op.create_index('ix_cases_opened_at', ['opened_at'], unique=False)
        batch_op.create_index('ix_cases_organisation', ['organisation', 'id'], unique=False)
    with op.batch_alter_table('parties', schema=None) as batch_op:
        batch_op.create_index('ix_parties_role_address', ['role', 'address'], unique=False)
        batch_op.create_index('ix_parties_role_name', ['role', 'display_name'], unique=False)
    op.create_table(
        'offender_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('other_case_id', sa.Integer(), nullable=False),
        sa.Column('actor', sa.String(length=120), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id']),
        sa.ForeignKeyConstraint(['other_case_id'], ['cases.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_offender_links_case_id', 'offender_links', ['case_id'], unique=False)
    op.create_index('ix_offender_links_other_case_id', 'offender_links', ['other_case_id'], unique=False)
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_case_staff', ['case_id', 'automatic', 'at'], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, *_ in _SOURCES:
            for suffix in ("ai", "au", "ad"):
                op.execute(f"DROP TRIGGER search_{table}_{suffix}")
        op.execute("DROP TABLE search_text")
    else:
        for table, column in _PG_TRGM:
            op.execute(f"DROP INDEX ix_{table}_{column}_trgm")
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_case_staff')
    op.drop_table('offender_links')
    with op.batch_alter_table('parties', schema=None) as batch_op:
        batch_op.drop_index('ix_parties_role_name')
        batch_op.drop_index('ix_parties_role_address')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for name in ('ix_cases_organisation', 'ix_cases_opened_at', 'ix_cases_urgency', 'ix_cases_status',
                     'ix_cases_outcome'):
            batch_op.drop_index(name)
        batch_op.drop_column('language')
        batch_op.drop_column('outcome')
