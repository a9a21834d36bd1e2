"""the usual-rate guard: a code may switch itself to approval mode on an hour of
far more redemptions than its usual rate (codes.surge_guard), saying what it saw
(spike_count, spike_usual); the index its counts read

Revision ID: f1spike00001
Revises: e1durat00001
Create Date: 2027-02-01 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f1spike00001'
down_revision = 'e1durat00001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('surge_guard', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('spike_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('spike_usual', sa.Float(), nullable=True))
    op.create_index(
        'ix_redemptions_code_arrivals', 'redemptions', ['code_id', 'through_request', 'created_at'], unique=False
    )


def downgrade():
    op.drop_index('ix_redemptions_code_arrivals', table_name='redemptions')
    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.drop_column('spike_usual')
        batch_op.drop_column('spike_count')
        batch_op.drop_column('surge_guard')
