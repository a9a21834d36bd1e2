"""report totals: each code's and classroom's report figures since the start,
filled from the report days

Revision ID: f2totals0001
Revises: f2fill000001
Create Date: 2027-02-17 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f2totals0001"
down_revision = "f2fill000001"
branch_labels = None
depends_on = None

# As codes.reports.aggregates writes them (written out here: a migration keeps
# the rule of its day): the sums of the days of each code (classroom_id 0) and
# of each classroom (code_id 0), and each code's again for every classroom it
# places people in now; a code's rows carry its text.
FILL = """
INSERT INTO report_totals (org_id, code_id, classroom_id, code_text, redemptions, new_members, placed)
SELECT d.org_id, d.code_id, d.classroom_id, COALESCE(c.text, ''),
       SUM(d.redemptions), SUM(d.new_members), SUM(d.placed)
FROM report_days d LEFT JOIN codes c ON c.id = d.code_id AND d.code_id != 0
WHERE d.code_id != 0 OR d.classroom_id != 0
GROUP BY d.org_id, d.code_id, d.classroom_id, c.text
"""
FILL_CODES_IN_CLASSROOMS = """
INSERT INTO report_totals (org_id, code_id, classroom_id, code_text, redemptions, new_members, placed)
SELECT t.org_id, t.code_id, cc.classroom_id, t.code_text, t.redemptions, t.new_members, 0
FROM report_totals t JOIN code_classrooms cc ON cc.code_id = t.code_id
WHERE t.code_id != 0 AND t.classroom_id = 0
"""


def upgrade():
    op.create_table(
        "report_totals",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("code_id", sa.Integer(), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=False),
        sa.Column("code_text", sa.String(length=80), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("new_members", sa.Integer(), nullable=False),
        sa.Column("placed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("org_id", "code_id", "classroom_id"),
    )
    with op.batch_alter_table("report_totals", schema=None) as batch_op:
        batch_op.create_index("ix_report_totals_room", ["org_id", "classroom_id"], unique=False)
    conn = op.get_bind()
    conn.execute(sa.text(FILL))
    conn.execute(sa.text(FILL_CODES_IN_CLASSROOMS))


def downgrade():
    with op.batch_alter_table("report_totals", schema=None) as batch_op:
        batch_op.drop_index("ix_report_totals_room")
    op.drop_table("report_totals")
