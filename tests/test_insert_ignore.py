"""database.insert_ignore: rows a unique key already holds are skipped, the
others written with their columns' defaults, on SQLite and on PostgreSQL."""

from sqlalchemy import select

from codes.database import insert_ignore
from codes.extensions import db
from codes.models import Enrollment
from conftest import Factory


def test_rows_already_there_are_skipped_and_the_others_written_on_both_databases(any_db_app):
    make = Factory()
    org = make.org(name="Oak School")
    algebra, biology, chemistry = (make.course(org, name) for name in ("Algebra", "Biology", "Chemistry"))
    sam, kim = make.user("Sam"), make.user("Kim")
    insert_ignore(db.session, Enrollment, [{"course_id": algebra.id, "user_id": sam.id}])
    insert_ignore(
        db.session,
        Enrollment,
        [
            {"course_id": algebra.id, "user_id": sam.id},
            {"course_id": biology.id, "user_id": sam.id},
            {"course_id": chemistry.id, "user_id": kim.id},
        ],
    )
    insert_ignore(db.session, Enrollment, [])
    db.session.commit()
    rows = db.session.execute(select(Enrollment.course_id, Enrollment.user_id, Enrollment.enrolled_at)).all()
    assert sorted((course, user) for course, user, _ in rows) == sorted(
        [(algebra.id, sam.id), (biology.id, sam.id), (chemistry.id, kim.id)]
    )
    assert all(enrolled is not None for *_, enrolled in rows), "the column's default is written"
