"""casework: triage, anonymity, escalation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('chain', sa.String(length=40), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('next_deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ack_code', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('active', 'acknowledged', 'exhausted', name='escalation_status', native_enum=False, length=20), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=200), nullable=True),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ack_code')
    )
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalations_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_escalations_due', ['status', 'next_deadline'], unique=False)

    op.create_table('pages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('contact', sa.String(length=120), nullable=False),
    sa.Column('addresses', sa.JSON(), nullable=False),
    sa.Column('paged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], ),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('escalation_id', 'step')
    )
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pages_escalation_id'), ['escalation_id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('triage', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('assigned_to', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('anonymous', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('identity_consent', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('sender_code', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('resolution', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint('uq_cases_sender_code', ['sender_code'])
        batch_op.create_foreign_key('fk_cases_merged_into_id', 'cases', ['merged_into_id'], ['id'])

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_identity', sa.Text(), nullable=True))




def downgrade() -> None:

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('sealed_identity')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        # WARNING: constraint name is None; this directive will fail as
        # rendered.  Add a name, or use a naming convention; see
        # https://alembic.sqlalchemy.org/en/latest/naming.html
        batch_op.drop_constraint('fk_cases_merged_into_id', type_='foreignkey')
        # WARNING: constraint name is None; this directive will fail as
        # rendered.  Add a name, or use a naming convention; see
        # https://alembic.sqlalchemy.org/en/latest/naming.html
        batch_op.drop_constraint('uq_cases_sender_code', type_='unique')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('resolution')
        batch_op.drop_column('sender_code')
        batch_op.drop_column('identity_consent')
        batch_op.drop_column('anonymous')
        batch_op.drop_column('assigned_to')
        batch_op.drop_column('triage')

    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pages_escalation_id'))

    op.drop_table('pages')
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_index('ix_escalations_due')
        batch_op.drop_index(batch_op.f('ix_escalations_case_id'))

    op.drop_table('escalations')

