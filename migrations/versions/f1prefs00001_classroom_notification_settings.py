"""classroom notification settings: a staff member's choice of one classroom's mail over the organization's

Revision ID: f1prefs00001
Revises: f1aggr000001
Create Date: 2027-01-27 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f1prefs00001'
down_revision = 'f1aggr000001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('classroom_notification_settings',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('classroom_id', sa.Integer(), nullable=False),
    sa.Column('daily_digest', sa.Boolean(), nullable=True),
    sa.Column('alerts', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['classroom_id'], ['classrooms.id'], name=op.f('fk_classroom_notification_settings_classroom_id_classrooms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_classroom_notification_settings_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'classroom_id', name=op.f('pk_classroom_notification_settings'))
    )
    with op.batch_alter_table('classroom_notification_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_classroom_notification_settings_classroom_id'), ['classroom_id'], unique=False)


def downgrade():
    with op.batch_alter_table('classroom_notification_settings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_classroom_notification_settings_classroom_id'))
    op.drop_table('classroom_notification_settings')
