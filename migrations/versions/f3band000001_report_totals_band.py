"""report totals by band: the band of each total's redemptions, computed by the
database, and the index of "all time"'s table of codes on it

Revision ID: f3band000001
Revises: f2export_job1
Create Date: 2026-12-03 15:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f3band000001"
down_revision = "f2export_job1"
branch_labels = None
depends_on = None

# As codes.models.REDEMPTIONS_BAND computes it (written out here: a migration
# keeps the rule of its day): the count below 8, then one band per power of two.
BAND = (
    "CASE WHEN redemptions < 8 THEN redemptions "
    + " ".join(f"WHEN redemptions < {2**bits} THEN {bits + 4}" for bits in range(4, 41))
    + " ELSE 45 END"
)


def upgrade():
    # SQLite adds a generated column as VIRTUAL (computed when read, and kept in
    # the index); PostgreSQL stores it.
    op.add_column("report_totals", sa.Column("band", sa.Integer(), sa.Computed(BAND), nullable=True))
    op.drop_index("ix_report_totals_room", table_name="report_totals")
    op.create_index(
        "ix_report_totals_order",
        "report_totals",
        ["org_id", "classroom_id", "band", "code_text"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_report_totals_order", table_name="report_totals")
    op.create_index("ix_report_totals_room", "report_totals", ["org_id", "classroom_id"], unique=False)
    with op.batch_alter_table("report_totals", schema=None) as batch_op:
        batch_op.drop_column("band")
