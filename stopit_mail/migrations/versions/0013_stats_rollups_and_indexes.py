"""stats rollups (stat_tallies, cases.first_staff_seconds) kept by triggers; indexes for a million cases

Columns and indexes are added with plain ALTER TABLE / CREATE INDEX (no batch copy), so the
full-text triggers from 0010 and the triggers created here stay in place on SQLite.

Revision ID: 0013
Revises: 0004
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

from stopit_mail.cases import sender_index
from stopit_mail.cases.rollups import backfill_statements, trigger_statements

revision = '0013'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stat_tallies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('organisation', sa.String(length=40), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('urgency', sa.String(length=24), nullable=False),
    sa.Column('categories', sa.Text(), nullable=False),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('tally', sa.Integer(), nullable=False),
    sa.Column('folded', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_stat_tallies_folded', 'stat_tallies', ['folded'], unique=False)
    op.add_column('cases', sa.Column('first_staff_seconds', sa.Float(), nullable=True))
    dialect = op.get_bind().dialect.name
    for statement in [*trigger_statements(dialect), *backfill_statements(dialect)]:
        op.execute(statement)
    # `cases list --assignee`: each distinct name is found by a seek (see cases/queries.py).
    op.create_index('ix_cases_assigned_to', 'cases', ['assigned_to', 'id'], unique=False)
    op.create_index('ix_events_notice_sent', 'events', ['action', 'case_id'], unique=False,
                    sqlite_where=sa.text("action = 'notice-sent'"), postgresql_where=sa.text("action = 'notice-sent'"))
    # `cases list --offender` finds a fragment of a sender's address or name by trigrams.
    if dialect == "postgresql":
        for statement in sender_index.postgresql_statements():
            op.execute(statement)
    else:
        for statement in [*sender_index.sqlite_statements(), *sender_index.backfill_statements()]:
            op.execute(statement)
    if dialect == "postgresql":
        # `cases search` matches notes and replies (the `text` of an event's JSON detail) by trigrams.
        op.execute("CREATE INDEX ix_events_said_trgm ON events USING gin (lower(detail ->> 'text') gin_trgm_ops)")
    # Built after the backfill: one sorted pass instead of a million index updates.
    op.create_index('ix_cases_first_staff', 'cases',
                    ['first_staff_seconds', 'merged_into_id', 'organisation', 'opened_at'], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for index in ("ix_events_said_trgm", "ix_parties_address_trgm", "ix_parties_display_name_trgm"):
            op.execute(f"DROP INDEX IF EXISTS {index}")
        for trigger, table in (("tally_cases", "cases"), ("tally_reports", "reports"),
                               ("first_staff_events", "events"), ("first_staff_cases", "cases")):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        for function in ("stopit_tally_cases", "stopit_tally_reports", "stopit_first_staff"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for trigger in ("tally_cases_ai", "tally_cases_au", "tally_cases_ad", "tally_reports_ai", "tally_reports_au",
                        "tally_reports_ad", "first_staff_events_ai", "first_staff_events_au",
                        "first_staff_events_ad", "first_staff_cases_au", "sender_text_ai", "sender_text_au",
                        "sender_text_ad"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS sender_text")
    op.drop_index('ix_cases_first_staff', table_name='cases')
    op.drop_index('ix_events_notice_sent', table_name='events')
    op.drop_index('ix_cases_assigned_to', table_name='cases')
    op.drop_column('cases', 'first_staff_seconds')
    op.drop_index('ix_stat_tallies_folded', table_name='stat_tallies')
    op.drop_table('stat_tallies')
