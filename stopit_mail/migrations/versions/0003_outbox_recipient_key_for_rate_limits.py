"""outbox recipient key for rate limits

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_key', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_outbox_recipient', ['kind', 'recipient_key', 'created_at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_recipient')
        batch_op.drop_column('recipient_key')


