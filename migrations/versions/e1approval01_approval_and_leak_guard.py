"""approval mode and the leak guard: codes may ask staff to accept each person
(join_requests), switch themselves to it on a spike, and be rotated (retired_keys)

Revision ID: e1approval01
Revises: b1fixes00001
Create Date: 2026-12-10 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1approval01'
down_revision = 'b1fixes00001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('hourly_limit', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('expected_domains', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('spike_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('spike_reason', sa.String(length=20), nullable=True))
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('through_request', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table('join_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['code_id'], ['codes.id'], name=op.f('fk_join_requests_code_id_codes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_join_requests_decided_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_join_requests_org_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_join_requests_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_join_requests')),
    sa.UniqueConstraint('code_id', 'user_id', name=op.f('uq_join_requests_code_id_user_id'))
    )
    with op.batch_alter_table('join_requests', schema=None) as batch_op:
        batch_op.create_index('ix_join_requests_code_state', ['code_id', 'state', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_join_requests_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_join_requests_user_id'), ['user_id'], unique=False)
    op.create_table('retired_keys',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('retired_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['code_id'], ['codes.id'], name=op.f('fk_retired_keys_code_id_codes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_retired_keys'))
    )
    with op.batch_alter_table('retired_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retired_keys_code_id'), ['code_id'], unique=False)


def downgrade():
    with op.batch_alter_table('retired_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retired_keys_code_id'))
    op.drop_table('retired_keys')
    with op.batch_alter_table('join_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_join_requests_user_id'))
        batch_op.drop_index(batch_op.f('ix_join_requests_org_id'))
        batch_op.drop_index('ix_join_requests_code_state')
    op.drop_table('join_requests')
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_column('through_request')
    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.drop_column('spike_reason')
        batch_op.drop_column('spike_at')
        batch_op.drop_column('expected_domains')
        batch_op.drop_column('hourly_limit')
        batch_op.drop_column('approval')
