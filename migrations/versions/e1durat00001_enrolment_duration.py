"""enrolment duration: how long a code's classroom membership lasts, and when a membership ends

Revision ID: e1durat00001
Revises: e1growth0001
Create Date: 2027-01-20 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1durat00001'
down_revision = 'e1growth0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('member_until', sa.DateTime(), nullable=True))
    with op.batch_alter_table('classroom_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ends_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('reminded_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_classroom_members_ends_at'), ['ends_at'], unique=False)


def downgrade():
    with op.batch_alter_table('classroom_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_classroom_members_ends_at'))
        batch_op.drop_column('reminded_at')
        batch_op.drop_column('ends_at')
    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.drop_column('member_until')
        batch_op.drop_column('member_days')
