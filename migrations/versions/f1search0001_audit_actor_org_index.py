"""audit events by their actor within an organization: the log's person filter
reads the events of the people a search finds

Revision ID: f1search0001
Revises: f1prefs00001
Create Date: 2027-01-27 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f1search0001'
down_revision = 'f1prefs00001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_actor_org_time', ['actor_id', 'org_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_actor_org_time')
