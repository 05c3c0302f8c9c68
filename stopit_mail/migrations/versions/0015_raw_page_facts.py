"""raw_messages.page_facts: an emergency's page facts beside its bytes sealed at the 250

Revision ID: 0015
Revises: 0013
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('raw_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('page_facts', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('raw_messages', schema=None) as batch_op:
        batch_op.drop_column('page_facts')
