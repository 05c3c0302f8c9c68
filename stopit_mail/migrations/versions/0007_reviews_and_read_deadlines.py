"""reviewer tier and read deadlines: escalation kind, reviews, read_deadlines

Cases that exist before this migration are recorded as seen (by "(before read tracking)"),
so upgrading does not page every old report at once.

Revision ID: 0007
Revises: 0010
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # "possible-emergency" is 18 characters; PostgreSQL enforced the old 16 (SQLite does not
    # check lengths, and a batch alter there would recreate `cases` and drop the search
    # triggers of 0010). The detect branch's 0006 widens it the same way (to 24): when both
    # are merged, drop this step (and its downgrade) from 0007.
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column('cases', 'urgency', existing_type=sa.String(length=16), type_=sa.String(length=24),
                        existing_nullable=False)
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=False, server_default='emergency'))

    op.create_table('reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=True),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('via', sa.String(length=20), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reviews_case_id'), ['case_id'], unique=False)

    op.create_table('read_deadlines',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('urgency', sa.String(length=20), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seen_by', sa.String(length=200), nullable=True),
    sa.Column('seen_via', sa.String(length=40), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_report_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('case_id')
    )
    with op.batch_alter_table('read_deadlines', schema=None) as batch_op:
        batch_op.create_index('ix_read_deadlines_due', ['seen_at', 'escalated_at', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_read_deadlines_last_report_id'), ['last_report_id'], unique=False)

    op.execute(
        "INSERT INTO read_deadlines (case_id, urgency, due_at, seen_at, seen_by, seen_via, last_report_id) "
        "SELECT id, urgency, opened_at, opened_at, '(before read tracking)', 'migration', "
        "(SELECT MAX(reports.id) FROM reports WHERE reports.case_id = cases.id) FROM cases"
    )


def downgrade() -> None:
    with op.batch_alter_table('read_deadlines', schema=None) as batch_op:
        batch_op.drop_index('ix_read_deadlines_due')
        batch_op.drop_index(batch_op.f('ix_read_deadlines_last_report_id'))
    op.drop_table('read_deadlines')
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reviews_case_id'))
    op.drop_table('reviews')
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_column('kind')
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column('cases', 'urgency', existing_type=sa.String(length=24), type_=sa.String(length=16),
                        existing_nullable=False)
