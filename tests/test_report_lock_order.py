"""A change of a code's classrooms (aggregates.move_code) writes the report rows
in the order a redemption writes them, so the two never deadlock on
PostgreSQL: here a redemption of another code holds the first classroom's row of
today while the move starts, and then needs the second classroom's row; the move
waits for it without holding the second classroom's row."""

import threading
import time

from sqlalchemy import text, update

from codes.extensions import db
from codes.models import ReportDay
from codes.redeem.operations import redeem
from codes.reports import aggregates
from codes.reports import operations as reports
from conftest import Factory


def test_a_move_of_a_code_and_a_redemption_in_the_same_classrooms_do_not_deadlock(postgres_app):
    make = Factory()
    org = make.org()
    first, second = make.classroom(org, "Room A"), make.classroom(org, "Room B")
    assert first.id < second.id
    moved = make.code(org, "MOVED-2027", classrooms=[second])
    both = make.code(org, "BOTH-2027", classrooms=[first, second])
    redeem(make.user("Ann"), moved.text)
    redeem(make.user("Ben"), both.text)
    db.session.commit()
    org_id, code_id = org.id, moved.id
    first_id, second_id = first.id, second.id
    today = reports.today_in(org)

    def room_today(classroom_id):
        # What a redemption of BOTH-2027 writes for a classroom: its row of today.
        return (
            update(ReportDay)
            .where(
                ReportDay.org_id == org_id,
                ReportDay.code_id == aggregates.ALL,
                ReportDay.classroom_id == classroom_id,
                ReportDay.day == today,
            )
            .values(redemptions=ReportDay.redemptions + 1)
        )

    failures = []

    def move():
        # MOVED-2027 leaves Room B for Room A, in a transaction of its own.
        with postgres_app.app_context():
            try:
                aggregates.move_code(org_id, code_id, left={second_id}, joined={first_id})
                db.session.commit()
            except Exception as error:  # noqa: BLE001 (the test reports what went wrong)
                failures.append(error)
                db.session.rollback()
            finally:
                db.session.remove()

    with db.engine.connect() as redemption, db.engine.connect() as watcher:
        redemption.execute(text("SET lock_timeout = '10s'"))
        redemption.execute(room_today(first_id))
        mover = threading.Thread(target=move)
        mover.start()
        # Until the move waits for a lock the redemption holds.
        for _ in range(200):
            waiting = watcher.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()
            watcher.commit()
            if waiting:
                break
            time.sleep(0.05)
        assert waiting, "the move never waited for the redemption's row"
        # The redemption goes on to the second classroom and ends.
        redemption.execute(room_today(second_id))
        redemption.commit()
        mover.join(timeout=30)
    assert not mover.is_alive()
    assert failures == []
