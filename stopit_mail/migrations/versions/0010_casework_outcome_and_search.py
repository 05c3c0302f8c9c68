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


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=40), nullable=True))
        batch_op.create_index('ix_cases_outcome', ['outcome'], unique=False)
        # What `cases list` filters and sorts by, and what `stats` groups by, at a million cases.
        batch_op.create_index('ix_cases_status', ['status', 'id'], unique=False)
        batch_op.create_index('ix_cases_urgency', ['urgency', 'id'], unique=False)
        batch_op.create_index('ix_cases_opened_at', ['opened_at'], unique=False)
        batch_op.create_index('ix_cases_organisation', ['organisation', 'id'], unique=False)
    with op.batch_alter_table('parties', schema=None) as batch_op:
        batch_op.create_index('ix_parties_role_address', ['role', 'address'], unique=False)
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_case_staff', ['case_id', 'automatic', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_case_staff')
    with op.batch_alter_table('parties', schema=None) as batch_op:
        batch_op.drop_index('ix_parties_role_address')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for name in ('ix_cases_organisation', 'ix_cases_opened_at', 'ix_cases_urgency', 'ix_cases_status',
                     'ix_cases_outcome'):
            batch_op.drop_index(name)
        batch_op.drop_column('outcome')
