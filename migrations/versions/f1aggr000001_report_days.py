"""report days: the report figures as daily aggregates, filled from the history

Revision ID: f1aggr000001
Revises: f1spike00001
Create Date: 2027-02-01 10:00:00.000000

"""

import json
from collections import Counter
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "f1aggr000001"
down_revision = "f1spike00001"
branch_labels = None
depends_on = None

ALL = 0
CHUNK = 1000


def _midnight(zone, day):
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)


def _day_of(zone, instant):
    # As codes.reports.aggregates.day_of (written out here: a migration keeps
    # what it did when it was written): the last day whose midnight there is at
    # or before the instant.
    day = instant.replace(tzinfo=timezone.utc).astimezone(zone).date()
    while _midnight(zone, day + timedelta(days=1)) <= instant:
        day += timedelta(days=1)
    while _midnight(zone, day) > instant:
        day -= timedelta(days=1)
    return day


def _instant(value):
    # SQLite hands back DateTime columns of a plain text() query as text.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _fill(conn, report_days):
    """Every organization's days from its redemptions (for the organization, the
    code, and each classroom the code places people in now) and its roster
    placements that took a seat (for the organization and the classroom, if it
    is still there)."""
    for org_id, zone_name in conn.execute(sa.text("SELECT id, timezone FROM organizations")).all():
        zone = ZoneInfo(zone_name)
        classrooms = {}
        for code_id, classroom_id in conn.execute(
            sa.text(
                "SELECT cc.code_id, cc.classroom_id FROM code_classrooms cc "
                "JOIN codes c ON c.id = cc.code_id WHERE c.org_id = :org"
            ),
            {"org": org_id},
        ):
            classrooms.setdefault(code_id, []).append(classroom_id)
        # A classroom made after a placement is not the one placed in (SQLite
        # may give a deleted classroom's id again).
        present = {
            classroom_id: _instant(made)
            for classroom_id, made in conn.execute(
                sa.text("SELECT id, created_at FROM classrooms WHERE org_id = :org"), {"org": org_id}
            )
        }
        rows = Counter()
        for code_id, took_seat, at in conn.execute(
            sa.text("SELECT code_id, took_seat, created_at FROM redemptions WHERE org_id = :org"),
            {"org": org_id},
        ):
            day = _day_of(zone, _instant(at))
            for key in [(ALL, ALL), (code_id, ALL)] + [(ALL, c) for c in classrooms.get(code_id, [])]:
                rows[key + (day, "redemptions")] += 1
                if took_seat:
                    rows[key + (day, "new_members")] += 1
        for detail, at in conn.execute(
            sa.text(
                "SELECT detail, created_at FROM audit_events WHERE org_id = :org AND action = 'roster.add'"
            ),
            {"org": org_id},
        ):
            placed = json.loads(detail or "{}")
            if not placed.get("took_seat"):
                continue
            at = _instant(at)
            day = _day_of(zone, at)
            rows[(ALL, ALL, day, "placed")] += 1
            if placed.get("classroom_id") in present and at >= present[placed["classroom_id"]]:
                rows[(ALL, placed["classroom_id"], day, "placed")] += 1
        merged = {}
        for (code_id, classroom_id, day, column), count in rows.items():
            counts = merged.setdefault(
                (code_id, classroom_id, day), {"redemptions": 0, "new_members": 0, "placed": 0}
            )
            counts[column] += count
        values = [
            dict(org_id=org_id, code_id=code_id, classroom_id=classroom_id, day=day, **counts)
            for (code_id, classroom_id, day), counts in sorted(merged.items())
        ]
        for start in range(0, len(values), CHUNK):
            conn.execute(report_days.insert(), values[start : start + CHUNK])


def upgrade():
    report_days = op.create_table(
        "report_days",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("code_id", sa.Integer(), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        sa.Column("new_members", sa.Integer(), nullable=False),
        sa.Column("placed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("org_id", "code_id", "classroom_id", "day"),
    )
    with op.batch_alter_table("report_days", schema=None) as batch_op:
        batch_op.create_index("ix_report_days_org_day", ["org_id", "day"], unique=False)
    _fill(op.get_bind(), report_days)


def downgrade():
    with op.batch_alter_table("report_days", schema=None) as batch_op:
        batch_op.drop_index("ix_report_days_org_day")
    op.drop_table("report_days")
