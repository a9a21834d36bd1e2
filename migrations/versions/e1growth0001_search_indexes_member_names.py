"""trigram indexes for the searches inside codes' lookup keys and people's
folded names and emails (codes.search): FTS5 tables kept by triggers on SQLite,
GIN indexes with pg_trgm on PostgreSQL; the rows already there are indexed.
Indexes for the users tab's redemptions and roster placements of a page's people.
Memberships carry their person's name and email key (codes.membernames), copied
by triggers and filled in for the memberships already there, with the index that
lists an organization's people by name

Revision ID: e1growth0001
Revises: e1jobs000001
Create Date: 2026-12-02 06:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1growth0001'
down_revision = 'e1jobs000001'
branch_labels = None
depends_on = None

# (table, column, index) as codes.search has them at this revision, written out:
# a migration must not change with the code that comes after it.
INDEXED = (('codes', 'key', 'codes_key_search'), ('users', 'search_key', 'users_search'))


def _sqlite(table, column, name):
    row = f"new.id, new.{column}"
    gone = f"INSERT INTO {name}({name}, rowid, {column}) VALUES ('delete', old.id, old.{column});"
    return [
        f"CREATE VIRTUAL TABLE {name} USING fts5({column}, content='{table}', content_rowid='id', "
        "tokenize='trigram', detail='none')",
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {name}(rowid, {column}) VALUES ({row}); END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {gone} END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {column} ON {table} BEGIN {gone} "
        f"INSERT INTO {name}(rowid, {column}) VALUES ({row}); END",
        # The rows already in the table.
        f"INSERT INTO {name}({name}) VALUES ('rebuild')",
    ]


# codes.membernames at this revision.
NAMES_POSTGRESQL = [
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
NAMES_SQLITE = [
    """CREATE TRIGGER org_members_copy_name AFTER INSERT ON org_members BEGIN
UPDATE org_members SET name = (SELECT name FROM users WHERE id = new.user_id),
    email_key = (SELECT email_key FROM users WHERE id = new.user_id) WHERE id = new.id; END""",
    """CREATE TRIGGER users_copy_name AFTER UPDATE OF name, email_key ON users BEGIN
UPDATE org_members SET name = new.name, email_key = new.email_key WHERE user_id = new.id; END""",
]


def upgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table('org_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('email_key', sa.String(length=254), nullable=True))
    op.execute(
        'UPDATE org_members SET name = (SELECT name FROM users WHERE users.id = org_members.user_id), '
        'email_key = (SELECT email_key FROM users WHERE users.id = org_members.user_id)'
    )
    op.create_index(
        'ix_org_members_org_name', 'org_members', ['org_id', 'name', 'email_key', 'user_id'], unique=False
    )
    for statement in NAMES_POSTGRESQL if postgresql else NAMES_SQLITE:
        op.execute(statement)
    op.create_index('ix_redemptions_user_org', 'redemptions', ['user_id', 'org_id'], unique=False)
    op.create_index(
        'ix_audit_org_action_object', 'audit_events', ['org_id', 'action', 'object_type', 'object_id'], unique=False
    )
    if postgresql:
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        for table, column, name in INDEXED:
            op.execute(f'CREATE INDEX {name} ON {table} USING gin ({column} gin_trgm_ops)')
        return
    for indexed in INDEXED:
        for statement in _sqlite(*indexed):
            op.execute(statement)


def downgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    if postgresql:
        for statement in (
            'DROP TRIGGER IF EXISTS users_copy_name ON users',
            'DROP FUNCTION IF EXISTS users_copy_name()',
            'DROP TRIGGER IF EXISTS org_members_copy_name ON org_members',
            'DROP FUNCTION IF EXISTS org_members_copy_name()',
        ):
            op.execute(statement)
    else:
        op.execute('DROP TRIGGER IF EXISTS users_copy_name')
        op.execute('DROP TRIGGER IF EXISTS org_members_copy_name')
    op.drop_index('ix_audit_org_action_object', table_name='audit_events')
    op.drop_index('ix_redemptions_user_org', table_name='redemptions')
    op.drop_index('ix_org_members_org_name', table_name='org_members')
    with op.batch_alter_table('org_members', schema=None) as batch_op:
        batch_op.drop_column('email_key')
        batch_op.drop_column('name')
    for _, _, name in INDEXED:
        if postgresql:
            op.execute(f'DROP INDEX IF EXISTS {name}')
            continue
        for trigger in ('insert', 'delete', 'update'):
            op.execute(f'DROP TRIGGER IF EXISTS {name}_{trigger}')
        op.execute(f'DROP TABLE IF EXISTS {name}')
