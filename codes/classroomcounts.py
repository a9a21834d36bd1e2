"""Each classroom carries the number of its members (Classroom.member_count), so
that a report's "Members now" reads one row per classroom, not every member.

The count is kept by the database itself, by triggers on classroom_members: one
more for each row inserted, however it is inserted (a redemption, a roster, an
approval, a test; an insert that a unique key skips inserts nothing), one less
for each row deleted (by the app, or with its classroom, person or organization),
and a moved row counts in its new classroom. The triggers are made with the
tables (the metadata's after_create) and by the migration, which counts the
members already there."""

from .extensions import made_with_the_tables

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
# What the counts should be: the migration fills them in with it, and the tests
# compare the kept counts with it.
RECOUNT = """UPDATE classrooms SET member_count =
(SELECT count(*) FROM classroom_members WHERE classroom_members.classroom_id = classrooms.id)"""


def create_statements(dialect: str) -> list[str]:
    return POSTGRESQL if dialect == "postgresql" else SQLITE


def drop_statements(dialect: str) -> list[str]:
    # On SQLite the triggers go with their tables.
    return POSTGRESQL_DROP if dialect == "postgresql" else []


made_with_the_tables(create_statements, drop_statements)
