"""Each membership carries its person's name and email key (OrgMember.name,
OrgMember.email_key), so that an organization's people are read by name from
one index, (org_id, name, email_key), without sorting every member.

The copies are written by the database itself, by triggers on both tables: a
membership gets its person's name when it is inserted, however it is inserted
(a redemption, a roster, an invitation accepted, a test), and every membership
of a person follows a change of their name or email. The triggers are made with
the tables (the metadata's after_create) and by the migration."""

from .extensions import made_with_the_tables

POSTGRESQL = [
    """CREATE FUNCTION org_members_copy_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT name, email_key INTO NEW.name, NEW.email_key FROM users WHERE id = NEW.user_id;
    RETURN NEW;
END $$""",
    """CREATE TRIGGER org_members_copy_name BEFORE INSERT OR UPDATE OF user_id ON org_members
FOR EACH ROW EXECUTE FUNCTION org_members_copy_name()""",
    """CREATE FUNCTION users_copy_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE org_members SET name = NEW.name, email_key = NEW.email_key WHERE user_id = NEW.id;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER users_copy_name AFTER UPDATE OF name, email_key ON users
FOR EACH ROW EXECUTE FUNCTION users_copy_name()""",
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS users_copy_name ON users",
    "DROP FUNCTION IF EXISTS users_copy_name()",
    "DROP TRIGGER IF EXISTS org_members_copy_name ON org_members",
    "DROP FUNCTION IF EXISTS org_members_copy_name()",
]
SQLITE = [
    """CREATE TRIGGER org_members_copy_name AFTER INSERT ON org_members BEGIN
UPDATE org_members SET name = (SELECT name FROM users WHERE id = new.user_id),
    email_key = (SELECT email_key FROM users WHERE id = new.user_id) WHERE id = new.id; END""",
    """CREATE TRIGGER users_copy_name AFTER UPDATE OF name, email_key ON users BEGIN
UPDATE org_members SET name = new.name, email_key = new.email_key WHERE user_id = new.id; END""",
]


def create_statements(dialect: str) -> list[str]:
    return POSTGRESQL if dialect == "postgresql" else SQLITE


def drop_statements(dialect: str) -> list[str]:
    # On SQLite the triggers go with their tables.
    return POSTGRESQL_DROP if dialect == "postgresql" else []


made_with_the_tables(create_statements, drop_statements)
