"""casework: outcome codes, indexes for a million cases, full-text search

Revision ID: 0010
Revises: 0003
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

from stopit_mail.cases.fulltext import SEARCHED_TABLES, search_index_statements

revision = '0010'
down_revision = '0003'
branch_labels = None
depends_on = None


# PostgreSQL: trigram GIN indexes make the same substring search use an index.
_PG_TRGM = (("reports", "wrapper_text"), ("reports", "subject"), ("evidence", "body_text"),
            ("evidence", "orig_subject"), ("evidence", "orig_from_address"), ("evidence", "orig_from_name"),
            ("cases", "title"))


def upgrade() -> None:
    with op.batch_alter_table('raw_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('no_ack', sa.Boolean(), nullable=False, server_default=sa.false()))
        # `cases show` finds a case's replies and bounces by it.
        batch_op.create_index('ix_raw_messages_case_id', ['case_id'], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        # The index and its triggers are defined beside the search code, which also re-creates
        # them after any later migration that rebuilds one of these tables (see ensure_search_index).
        for statement in search_index_statements():
            op.execute(statement)
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
        for table in SEARCHED_TABLES:
            for suffix in ("ai", "au", "ad"):
                op.execute(f"DROP TRIGGER IF EXISTS search_{table}_{suffix}")
        op.execute("DROP TABLE search_text")
    else:
        for table, column in _PG_TRGM:
            op.execute(f"DROP INDEX ix_{table}_{column}_trgm")
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_case_staff')
    op.drop_table('offender_links')
    with op.batch_alter_table('raw_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_raw_messages_case_id')
        batch_op.drop_column('no_ack')
    with op.batch_alter_table('parties', schema=None) as batch_op:
        batch_op.drop_index('ix_parties_role_name')
        batch_op.drop_index('ix_parties_role_address')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for name in ('ix_cases_organisation', 'ix_cases_opened_at', 'ix_cases_urgency', 'ix_cases_status',
                     'ix_cases_outcome'):
            batch_op.drop_index(name)
        batch_op.drop_column('language')
        batch_op.drop_column('outcome')
