"""message priority, processing leases, outbox priority, worker heartbeats

Revision ID: 0004
Revises: 0011
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('raw_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_raw_messages_claim', ['status', 'priority', 'id'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_index('ix_outbox_priority', ['status', 'priority', 'next_attempt_at'], unique=False)
    op.create_table(
        'worker_heartbeats',
        sa.Column('worker', sa.String(length=120), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('beat_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('processed', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('worker'),
    )


def downgrade() -> None:
    op.drop_table('worker_heartbeats')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_priority')
        batch_op.drop_column('priority')
    with op.batch_alter_table('raw_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_raw_messages_claim')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('priority')
