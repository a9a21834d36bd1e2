"""codes fillfactor: on PostgreSQL each page of codes keeps a tenth free, so that
a use of a code (an UPDATE of `uses`, which no index holds) is a HOT update

Revision ID: f2fill000001
Revises: f1month00001
Create Date: 2027-02-12 10:00:00.000000

Pages already written are not packed again by this: rows updated from now on
leave room behind them, and `VACUUM FULL codes` (which locks the table while it
runs) rewrites every page with the room at once (docs/DEPLOY.md).
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "f2fill000001"
down_revision = "f1month00001"
branch_labels = None
depends_on = None

# As codes.models.CODES_FILLFACTOR when this was written.
FILLFACTOR = 90


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE codes SET (fillfactor = {FILLFACTOR})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE codes RESET (fillfactor)")
