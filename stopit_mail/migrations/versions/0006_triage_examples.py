"""triage examples: an organisation's own reviewed example sentences; room for "possible-emergency"

Revision ID: 0006
Revises: 0008
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The urgency column was widened for "possible-emergency" by 0007, which comes first.
    op.create_table(
        'triage_examples',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organisation', sa.String(length=40), nullable=False),
        sa.Column('label', sa.String(length=16), nullable=False),
        sa.Column('category', sa.String(length=40), nullable=False),
        sa.Column('sentence', sa.Text(), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=False),
        sa.Column('added_by', sa.String(length=120), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('source_case', sa.String(length=32), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('triage_examples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_triage_examples_organisation'), ['organisation'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('triage_examples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_triage_examples_organisation'))
    op.drop_table('triage_examples')
