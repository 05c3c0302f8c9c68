"""per-counterpart case aliases, public identity keys, per-domain ack limits; backfill codes

Rows from before 0002 have no sender_code, and before this revision every reporter of a case
shared the case's reporter code. The backfill gives each case a sender code where missing, the
first report the case's old reporter code (the one it was told), every other report a code of
its own, and the alleged sender an alias with the sender code.

Revision ID: 0005
Revises: 0007
Create Date: 2026-11-30
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0007'
branch_labels = None
depends_on = None

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _code(used: set[str]) -> str:
    while True:
        code = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        if code not in used:
            used.add(code)
            return code


def upgrade() -> None:
    op.create_table('case_aliases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=20), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('office', sa.String(length=80), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('case_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_aliases_case_id'), ['case_id'], unique=False)

    op.create_table('identity_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_id')
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_role', sa.String(length=20), nullable=False,
                                      server_default='reporter'))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alias_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('domain_key', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key('fk_outbox_alias_id', 'case_aliases', ['alias_id'], ['id'])
        batch_op.create_index('ix_outbox_domain', ['kind', 'domain_key', 'created_at'], unique=False)
    _backfill()


def _backfill() -> None:
    conn = op.get_bind()
    cases = sa.table('cases', sa.column('id', sa.Integer), sa.column('reporter_code', sa.String),
                     sa.column('sender_code', sa.String))
    reports = sa.table('reports', sa.column('id', sa.Integer), sa.column('case_id', sa.Integer))
    aliases = sa.table('case_aliases', sa.column('case_id', sa.Integer), sa.column('code', sa.String),
                       sa.column('side', sa.String), sa.column('report_id', sa.Integer),
                       sa.column('created_at', sa.DateTime(timezone=True)))
    used = {c for row in conn.execute(sa.select(cases.c.reporter_code, cases.c.sender_code)) for c in row if c}
    now = sa.func.current_timestamp()
    for case_id, reporter_code, sender_code in conn.execute(
            sa.select(cases.c.id, cases.c.reporter_code, cases.c.sender_code).order_by(cases.c.id)).all():
        if not sender_code:
            sender_code = _code(used)
            conn.execute(cases.update().where(cases.c.id == case_id).values(sender_code=sender_code))
        conn.execute(aliases.insert().values(case_id=case_id, code=sender_code, side='alleged-sender',
                                             report_id=None, created_at=now))
        report_ids = conn.execute(sa.select(reports.c.id).where(reports.c.case_id == case_id)
                                  .order_by(reports.c.id)).scalars().all()
        for position, report_id in enumerate(report_ids):
            code = reporter_code if position == 0 else _code(used)
            conn.execute(aliases.insert().values(case_id=case_id, code=code, side='reporter',
                                                 report_id=report_id, created_at=now))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_domain')
        batch_op.drop_constraint('fk_outbox_alias_id', type_='foreignkey')
        batch_op.drop_column('domain_key')
        batch_op.drop_column('alias_id')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('sender_role')
    op.drop_table('identity_keys')
    with op.batch_alter_table('case_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_aliases_case_id'))
    op.drop_table('case_aliases')
