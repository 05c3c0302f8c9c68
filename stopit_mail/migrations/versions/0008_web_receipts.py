"""web door: receipt codes (argon2 hashes) and the reporters' answers

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_receipts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('lookup', sa.String(length=64), nullable=False),
        sa.Column('code_hash', sa.Text(), nullable=False),
        sa.Column('raw_message_id', sa.Integer(), nullable=False),
        sa.Column('organisation', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['raw_message_id'], ['raw_messages.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('lookup'),
        sa.UniqueConstraint('raw_message_id'),
    )
    op.create_table(
        'web_posts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('receipt_id', sa.Integer(), nullable=False),
        sa.Column('raw_message_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['raw_message_id'], ['raw_messages.id']),
        sa.ForeignKeyConstraint(['receipt_id'], ['web_receipts.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('raw_message_id'),
    )
    with op.batch_alter_table('web_posts', schema=None) as batch_op:
        batch_op.create_index('ix_web_posts_receipt_id', ['receipt_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_posts', schema=None) as batch_op:
        batch_op.drop_index('ix_web_posts_receipt_id')
    op.drop_table('web_posts')
    op.drop_table('web_receipts')
