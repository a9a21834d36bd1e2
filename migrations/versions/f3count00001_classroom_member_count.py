"""classroom member counts: each classroom's number of members, kept by triggers
on classroom_members and counted for the members already there

Revision ID: f3count00001
Revises: f3band000001
Create Date: 2026-12-03 15:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f3count00001"
down_revision = "f3band000001"
branch_labels = None
depends_on = None

# As codes.classroomcounts makes them (written out here: a migration keeps the
# rule of its day).
POSTGRESQL = [
    """CREATE FUNCTION classroom_members_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE classrooms SET member_count = member_count - 1 WHERE id = OLD.classroom_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE classrooms SET member_count = member_count + 1 WHERE id = NEW.classroom_id;
    END IF;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER classroom_members_count AFTER INSERT OR DELETE ON classroom_members
FOR EACH ROW EXECUTE FUNCTION classroom_members_count()""",
    """CREATE TRIGGER classroom_members_count_moved AFTER UPDATE OF classroom_id ON classroom_members
FOR EACH ROW WHEN (OLD.classroom_id IS DISTINCT FROM NEW.classroom_id)
EXECUTE FUNCTION classroom_members_count()""",
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS classroom_members_count_moved ON classroom_members",
    "DROP TRIGGER IF EXISTS classroom_members_count ON classroom_members",
    "DROP FUNCTION IF EXISTS classroom_members_count()",
]
SQLITE = [
    """CREATE TRIGGER classroom_members_count_added AFTER INSERT ON classroom_members BEGIN
UPDATE classrooms SET member_count = member_count + 1 WHERE id = new.classroom_id; END""",
    """CREATE TRIGGER classroom_members_count_removed AFTER DELETE ON classroom_members BEGIN
UPDATE classrooms SET member_count = member_count - 1 WHERE id = old.classroom_id; END""",
    """CREATE TRIGGER classroom_members_count_moved AFTER UPDATE OF classroom_id ON classroom_members
WHEN old.classroom_id IS NOT new.classroom_id BEGIN
UPDATE classrooms SET member_count = member_count - 1 WHERE id = old.classroom_id;
UPDATE classrooms SET member_count = member_count + 1 WHERE id = new.classroom_id; END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS classroom_members_count_moved",
    "DROP TRIGGER IF EXISTS classroom_members_count_removed",
    "DROP TRIGGER IF EXISTS classroom_members_count_added",
]
RECOUNT = """UPDATE classrooms SET member_count =
(SELECT count(*) FROM classroom_members WHERE classroom_members.classroom_id = classrooms.id)"""


def upgrade():
    with op.batch_alter_table("classrooms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_count", sa.Integer(), server_default=sa.text("0"), nullable=False))
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)
    op.execute(RECOUNT)


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_DROP if postgresql else SQLITE_DROP:
        op.execute(statement)
    with op.batch_alter_table("classrooms", schema=None) as batch_op:
        batch_op.drop_column("member_count")
