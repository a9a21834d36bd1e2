"""people search folds case and accents (users.search_key); codes whose
classrooms and courses were all deleted are marked (codes.targets_deleted_at)

Revision ID: b1fixes00001
Revises: d003dba8db3d
Create Date: 2026-12-01 23:30:00.000000

"""
import unicodedata
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b1fixes00001'
down_revision = 'a1sessions01'
branch_labels = None
depends_on = None

users = sa.table(
    'users', sa.column('id', sa.Integer), sa.column('name', sa.String),
    sa.column('email', sa.String), sa.column('search_key', sa.Text),
)


codes = sa.table('codes', sa.column('id', sa.Integer), sa.column('targets_deleted_at', sa.DateTime))
code_classrooms = sa.table('code_classrooms', sa.column('code_id', sa.Integer))
code_courses = sa.table('code_courses', sa.column('code_id', sa.Integer))


def _folded(text):
    # codes.models.folded as it is at this revision: a migration must not change
    # with the code that comes after it.
    decomposed = unicodedata.normalize('NFKD', text or '').casefold()
    return ''.join(c for c in decomposed if not unicodedata.combining(c))


def _backfill_search_keys(conn):
    rows = conn.execute(sa.select(users.c.id, users.c.name, users.c.email)).all()
    update = (users.update().where(users.c.id == sa.bindparam('user_id'))
              .values(search_key=sa.bindparam('key')))
    for start in range(0, len(rows), 1000):
        conn.execute(update, [{'user_id': row.id, 'key': f'{_folded(row.name)}\n{_folded(row.email)}'}
                              for row in rows[start:start + 1000]])


def _mark_codes_placing_nobody(conn):
    # Codes left with no classroom and no course by deletions before this
    # revision: they place nobody and are shown as no longer valid. Times are
    # naive UTC, as the app stores them.
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    conn.execute(
        codes.update()
        .where(~sa.exists().where(code_classrooms.c.code_id == codes.c.id),
               ~sa.exists().where(code_courses.c.code_id == codes.c.id))
        .values(targets_deleted_at=now)
    )


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_key', sa.Text(), nullable=True))
    _backfill_search_keys(op.get_bind())
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('search_key', existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('targets_deleted_at', sa.DateTime(), nullable=True))
    _mark_codes_placing_nobody(op.get_bind())


def downgrade():
    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.drop_column('targets_deleted_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('search_key')
