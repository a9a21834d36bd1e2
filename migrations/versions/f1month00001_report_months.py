"""report months: the report days summed month by month, filled from the days

Revision ID: f1month00001
Revises: f1search0001
Create Date: 2027-02-10 10:00:00.000000

"""

from collections import Counter
from datetime import date

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f1month00001"
down_revision = "f1search0001"
branch_labels = None
depends_on = None

CHUNK = 1000
COUNTS = ("redemptions", "new_members", "placed")


def _fill(conn, report_months):
    """Each month's row: the sum of its days' rows, by organization, code and classroom."""
    months = {}
    for org_id, code_id, classroom_id, day, *counts in conn.execute(
        sa.text(
            "SELECT org_id, code_id, classroom_id, day, redemptions, new_members, placed FROM report_days"
        )
    ):
        # SQLite hands back Date columns of a plain text() query as text.
        day = day if isinstance(day, date) else date.fromisoformat(day)
        summed = months.setdefault((org_id, code_id, classroom_id, day.replace(day=1)), Counter())
        for column, count in zip(COUNTS, counts, strict=True):
            summed[column] += count
    values = [
        dict(
            org_id=org_id,
            code_id=code_id,
            classroom_id=classroom_id,
            month=month,
            **{c: s[c] for c in COUNTS},
        )
        for (org_id, code_id, classroom_id, month), s in sorted(months.items())
    ]
    for start in range(0, len(values), CHUNK):
        conn.execute(report_months.insert(), values[start : start + CHUNK])


def upgrade():
    report_months = op.create_table(
        "report_months",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("code_id", sa.Integer(), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("new_members", sa.Integer(), nullable=False),
        sa.Column("placed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("org_id", "code_id", "classroom_id", "month"),
    )
    with op.batch_alter_table("report_months", schema=None) as batch_op:
        batch_op.create_index("ix_report_months_org_month", ["org_id", "month"], unique=False)
    _fill(op.get_bind(), report_months)


def downgrade():
    with op.batch_alter_table("report_months", schema=None) as batch_op:
        batch_op.drop_index("ix_report_months_org_month")
    op.drop_table("report_months")
