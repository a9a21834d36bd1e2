"""The bands of the report totals (models.REDEMPTIONS_BAND): the database
computes what redemptions_band says, on SQLite and PostgreSQL; "all time"'s table
read band by band is the table a full sort of the totals gives; and on
PostgreSQL a redemption's update of a total that stays in its band is a HOT
update (no new entry in any index), as it was before the band was indexed."""

import random

import pytest
from sqlalchemy import event, func, insert, select, text, update

from codes.access import Scope
from codes.codetext import canonical
from codes.extensions import db
from codes.models import EXACT_BANDS, Code, ReportTotal, redemptions_band
from codes.reports import operations as reports
from codes.reports.aggregates import ALL
from conftest import Factory

COUNTS = sorted({n for n in range(-2, 70)} | {2**bits + d for bits in range(3, 45) for d in (-1, 0, 1)})


def test_the_database_computes_the_band_redemptions_band_gives(any_db_app):
    org = Factory().org()
    rows = [
        dict(org_id=org.id, code_id=n + 1, classroom_id=ALL, code_text=f"C{n}", redemptions=count)
        for n, count in enumerate(c for c in COUNTS if c < 2**31)
    ]
    db.session.execute(insert(ReportTotal), rows)
    db.session.commit()
    stored = dict(
        db.session.execute(
            select(ReportTotal.redemptions, ReportTotal.band).where(ReportTotal.org_id == org.id)
        )
        .tuples()
        .all()
    )
    assert stored == {row["redemptions"]: redemptions_band(row["redemptions"]) for row in rows}
    assert [redemptions_band(n) for n in range(EXACT_BANDS)] == list(range(EXACT_BANDS))
    # Bands rise with the count and never overlap.
    bands = [redemptions_band(n) for n in COUNTS]
    assert bands == sorted(bands)
    assert len({redemptions_band(n) for n in range(EXACT_BANDS, 2**12)}) == 12 - EXACT_BANDS.bit_length() + 1


def _full_sort(org, classroom_id, limit):
    """The table as a sort of every total gives it (the reading before bands)."""
    return [
        (text_, count)
        for text_, count in db.session.execute(
            select(Code.text, ReportTotal.redemptions)
            .join(Code, Code.id == ReportTotal.code_id)
            .where(
                ReportTotal.org_id == org.id,
                ReportTotal.code_id != ALL,
                ReportTotal.classroom_id == classroom_id,
            )
            .order_by(ReportTotal.redemptions.desc(), ReportTotal.code_text)
            .limit(limit)
        )
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_all_time_read_band_by_band_is_the_full_sort(any_db_app, seed):
    """Totals spread over many bands, with ties inside an exact band, inside a
    band of several counts, and at the table's last row; for the organization,
    a classroom, every limit from 1 to past the number of codes."""
    rng = random.Random(seed)
    make = Factory()
    org = make.org()
    room, other = make.classroom(org, "Room 1"), make.classroom(org, "Room 2")
    codes = [make.code(org, f"BAND-{n:03d}-{seed}", classrooms=[room if n % 2 else other]) for n in range(60)]
    choices = [0, 1, 1, 1, 2, 3, 7, 8, 9, 15, 16, 17, 40, 40, 100, 1000, 5000, 5001, 70000]
    rows = []
    for code in codes:
        count = rng.choice(choices)
        rows.append(
            dict(org_id=org.id, code_id=code.id, classroom_id=ALL, code_text=code.text, redemptions=count)
        )
        if code.classrooms[0].id == room.id:
            rows.append(
                dict(
                    org_id=org.id,
                    code_id=code.id,
                    classroom_id=room.id,
                    code_text=code.text,
                    redemptions=count,
                )
            )
    # The classroom's own row sits in the classroom's part of the index, with the highest count.
    rows.append(dict(org_id=org.id, code_id=ALL, classroom_id=room.id, code_text="", redemptions=10**6))
    db.session.execute(insert(ReportTotal), rows)
    db.session.commit()
    scope = Scope(org.admin, org)
    for classroom, classroom_id in ((None, ALL), (room, room.id)):
        for limit in (1, 2, 5, 15, 31, 61):
            read = [
                (line.code.text, line.figures.redemptions)
                for line in reports._top_codes_ever(scope, classroom, limit)
            ]
            assert read == _full_sort(org, classroom_id, limit), (classroom_id, limit)
    assert len({redemptions_band(row["redemptions"]) for row in rows}) > 8


def test_all_time_reads_a_few_rows_of_many_that_tie(any_db_app):
    """A thousand codes used once and three used more: the table's fifteen rows
    are read from the index, not sorted out of the thousand (on SQLite, the
    plan of each statement; on both, the rows it gives)."""
    org = Factory().org()
    texts = [f"ONCE-{n:04d}" for n in range(1000)] + [f"MORE-{n}" for n in range(3)]
    db.session.execute(
        insert(Code),
        [
            dict(
                org_id=org.id,
                text=typed,
                key=canonical(typed),
                created_by_id=org.admin.id,
                allowed_domains="",
            )
            for typed in texts
        ],
    )
    ids = dict(db.session.execute(select(Code.text, Code.id).where(Code.org_id == org.id)).tuples().all())
    db.session.execute(
        insert(ReportTotal),
        [
            dict(
                org_id=org.id,
                code_id=ids[typed],
                classroom_id=ALL,
                code_text=typed,
                redemptions=1 if typed.startswith("ONCE") else 50 + int(typed[-1]),
            )
            for typed in texts
        ],
    )
    db.session.commit()
    statements = []
    engine = db.engine

    def heard(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", heard)
    try:
        lines = reports._top_codes_ever(Scope(org.admin, org), None, 15)
    finally:
        event.remove(engine, "before_cursor_execute", heard)
    assert [line.code.text for line in lines] == ["MORE-2", "MORE-1", "MORE-0"] + [
        f"ONCE-{n:04d}" for n in range(12)
    ]
    if engine.dialect.name == "sqlite":
        selects = [(st, p) for st, p in statements if "report_totals" in st]
        assert len(selects) == 4, "two bands: the highest and its rows, then the next and its rows"
        plans = [
            " ".join(
                row[3]
                for row in db.session.connection().exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, parameters
                )
            )
            for statement, parameters in selects
        ]
        assert all("ix_report_totals_order" in plan for plan in plans), plans
        # The three codes of band 32 to 63 are sorted by their counts; the
        # thousand of band 1 are not sorted at all.
        assert "USE TEMP B-TREE" in plans[1] and "USE TEMP B-TREE" not in plans[3], plans


def test_an_update_within_a_band_is_a_hot_update_on_postgresql(postgres_app):
    """The band is in an index; the count is not. Adding one to a total of 100
    (band 100 to 127) leaves every indexed value as it was, so PostgreSQL
    updates the row in place of its page (HOT); crossing into the next band at
    128 is the one update that is not."""
    org = Factory().org()
    db.session.execute(
        insert(ReportTotal),
        [dict(org_id=org.id, code_id=1, classroom_id=ALL, code_text="HOT-1", redemptions=100)],
    )
    db.session.commit()

    def hot_and_all():
        return db.session.execute(
            text(
                "SELECT pg_stat_get_xact_tuples_hot_updated('report_totals'::regclass),"
                " pg_stat_get_xact_tuples_updated('report_totals'::regclass)"
            )
        ).one()

    one_more = (
        update(ReportTotal)
        .where(ReportTotal.org_id == org.id, ReportTotal.code_id == 1)
        .values(redemptions=ReportTotal.redemptions + 1)
    )
    for _ in range(27):
        db.session.execute(one_more)
    assert tuple(hot_and_all()) == (27, 27)
    db.session.execute(one_more)  # 127 -> 128: a band of its own
    assert tuple(hot_and_all()) == (27, 28)
    assert db.session.scalar(
        select(ReportTotal.band).where(ReportTotal.org_id == org.id)
    ) == redemptions_band(128)
    db.session.rollback()
    assert (
        db.session.scalar(select(func.count()).select_from(ReportTotal).where(ReportTotal.org_id == org.id))
        == 1
    )
