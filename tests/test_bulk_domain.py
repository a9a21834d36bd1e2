"""Generating a batch of random codes, called directly: the codes' text, one
multi-row insert, collisions drawn again, and bad input refused with nothing made."""

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select

from codes import keys
from codes.access import OutOfScope, Scope
from codes.bulk import operations
from codes.bulk.operations import BatchInput, generate_batch
from codes.codetext import canonical
from codes.errors import DomainError, FieldErrors
from codes.extensions import db
from codes.models import AuditEvent, Batch, Code, CodeClassroom, CodeCourse, utcnow
from conftest import Factory, count

CROCKFORD_GROUPS = re.compile(r"^SPRING2027-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")

PREFIX_LETTERS = (
    "Use only the letters A to Z and digits in a prefix, with single dashes between them if you like."
)


@pytest.fixture
def world(app):
    make = Factory()
    org = make.org(name="Oak School")
    room = make.classroom(org, "Room 9A")
    algebra = make.course(org, "Algebra")
    return make, org, room, algebra


def batch_codes():
    """The codes batches made (classrooms have join codes of their own)."""
    return db.session.scalars(select(Code).where(Code.batch_id.is_not(None))).all()


def make_batch(org, actor=None, **fields):
    actor = actor or org.admin
    batch = generate_batch(actor, Scope(actor, org), BatchInput(**fields))
    db.session.commit()
    return batch


class Statements:
    """Counts the SQL statements that start with each given text."""

    def __init__(self, engine):
        self.seen = []
        self.engine = engine

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self.record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self.record)

    def record(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append((" ".join(statement.split()), executemany))

    def starting(self, text):
        return [s for s in self.seen if s[0].startswith(text)]


def test_500_codes_in_one_batch_with_one_insert_per_table(world):
    make, org, room, algebra = world
    with Statements(db.engine) as statements:
        batch = make_batch(
            org,
            classroom_ids=[room.id],
            course_ids=[algebra.id],
            count=500,
            prefix="spring2027",
            max_uses=None,
        )
    for table in ("codes", "code_classrooms", "code_courses"):
        [(statement, _)] = statements.starting(f"INSERT INTO {table} ")
        values = statement.partition(" VALUES ")[2]
        assert len(re.findall(r"\((?:\?, )+\?\)", values)) == 500, f"{table}: one row a statement"
    codes = db.session.scalars(select(Code).where(Code.batch_id == batch.id)).all()
    assert len(codes) == 500 and batch.count == 500 and batch.prefix == "SPRING2027"
    assert all(CROCKFORD_GROUPS.match(c.text) for c in codes), codes[0].text
    assert len({c.key for c in codes}) == 500
    assert all(c.key == canonical(c.text) for c in codes)
    ids = [c.id for c in codes]
    for link in (CodeClassroom, CodeCourse):
        assert count(link, link.code_id.in_(ids)) == 500
    assert all(c.max_uses is None and c.uses == 0 and c.enabled for c in codes)


def test_random_part_has_at_least_ten_symbols_without_a_prefix(world):
    make, org, room, algebra = world
    make_batch(org, course_ids=[algebra.id], count=20)
    assert len(batch_codes()) == 20
    for code in batch_codes():
        assert len(code.text.replace("-", "")) == 10
        assert code.max_uses == 1, "single use by default"


def test_batch_keeps_who_when_and_the_options(world):
    make, org, room, algebra = world
    until = utcnow() + timedelta(days=30)
    batch = make_batch(
        org, classroom_ids=[room.id], count=3, prefix="AB", valid_until=until, max_uses=4, role="teacher"
    )
    assert batch.created_by_id == org.admin.id and batch.created_at is not None
    assert json.loads(batch.options) == {
        "expiry": until.isoformat(),
        "max_uses": 4,
        "role": "teacher",
        "targets": {"classrooms": [room.id], "courses": []},
    }
    codes = db.session.scalars(select(Code).where(Code.batch_id == batch.id)).all()
    assert {(c.valid_until, c.max_uses, c.role) for c in codes} == {(until, 4, "teacher")}
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "batch.create")).all()
    assert [(e.object_id, json.loads(e.detail)) for e in events] == [(batch.id, {"count": 3, "prefix": "AB"})]


def test_a_taken_key_is_drawn_again_not_shown(world, monkeypatch):
    make, org, room, algebra = world
    taken = make.code(org, "SPRING-AAAAA-BBBBB", classrooms=[room])
    real = operations.random_code
    draws = iter(["SPRING-AAAAA-BBBBB", "spring-aaaaa-bbbbb"])
    monkeypatch.setattr(operations, "random_code", lambda prefix: next(draws, None) or real(prefix))
    batch = make_batch(org, classroom_ids=[room.id], count=5, prefix="SPRING")
    keys = db.session.scalars(select(Code.key).where(Code.batch_id == batch.id)).all()
    assert len(keys) == 5 and taken.key not in keys
    assert next(draws, "spent") == "spent", "both colliding draws were used"


def test_drawing_only_taken_keys_gives_up_with_a_message_and_makes_nothing(world, monkeypatch):
    make, org, room, algebra = world
    make.code(org, "SPRING-AAAAA-BBBBB", classrooms=[room])
    monkeypatch.setattr(operations, "random_code", lambda prefix: "SPRING-AAAAA-BBBBB")
    with pytest.raises(DomainError) as refused:
        generate_batch(
            org.admin, Scope(org.admin, org), BatchInput(classroom_ids=[room.id], count=2, prefix="SPRING")
        )
    db.session.rollback()
    assert refused.value.message == "We couldn't make unique codes just now. Try again."
    assert batch_codes() == [] and count(Batch) == 0


def test_a_key_written_by_a_concurrent_request_is_drawn_again(any_db_app, monkeypatch):
    """The key is free when checked, then another request writes it before our
    insert: the savepoint undoes only this try, and the batch still gets 3 codes."""
    make = Factory()
    org = make.org()
    room = make.classroom(org)
    make.code(org, "OTHER-CODE-1234", classrooms=[room])
    real_taken = keys.taken
    raced = []

    def taken_then_written(asked, except_code_id=None):
        found = real_taken(asked, except_code_id)
        if not raced:
            key = sorted(asked)[0]
            raced.append(key)
            db.session.execute(
                insert(Code).values(
                    org_id=org.id,
                    text=key,
                    key=key,
                    uses=0,
                    enabled=True,
                    allowed_domains="",
                    role="student",
                    created_at=utcnow(),
                )
            )
        return found

    monkeypatch.setattr(keys, "taken", taken_then_written)
    before = count(Code)
    batch = make_batch(org, classroom_ids=[room.id], count=3)
    made = db.session.scalars(select(Code.key).where(Code.batch_id == batch.id)).all()
    assert len(made) == 3 and raced[0] not in made
    assert count(Code) == before + 1 + 3 and count(Batch) == 1


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"count": 0}, "count", "Make 1 to 500 codes at a time."),
        ({"count": 501}, "count", "Make 1 to 500 codes at a time."),
        ({"count": None}, "count", "Make 1 to 500 codes at a time."),
        ({"prefix": "A" * 21}, "prefix", "A prefix is at most 20 letters and digits."),
        ({"prefix": "SPRING--27"}, "prefix", PREFIX_LETTERS),
        ({"prefix": "ÉTÉ"}, "prefix", PREFIX_LETTERS),
        ({"max_uses": 0}, "max_uses", "Max uses is at least 1. Choose unlimited for no limit."),
        ({"valid_until": utcnow() - timedelta(minutes=1)}, "valid_until", "That date has already passed."),
        ({"classroom_ids": []}, "targets", "Choose at least one classroom or course."),
        ({"role": "owner"}, "role", "Choose student or teacher."),
    ],
)
def test_bad_input_is_refused_and_makes_nothing(world, fields, field, message):
    make, org, room, algebra = world
    data = {"classroom_ids": [room.id], "count": 10, **fields}
    before = count(Code)
    with pytest.raises(FieldErrors) as refused:
        generate_batch(org.admin, Scope(org.admin, org), BatchInput(**data))
    db.session.rollback()
    assert refused.value.errors == {field: message}
    assert count(Code) == before and count(Batch) == 0


def test_prefix_is_upper_cased(world):
    make, org, room, algebra = world
    batch = make_batch(org, classroom_ids=[room.id], count=1, prefix=" fall26 ")
    assert batch.prefix == "FALL26"
    assert [c.text[:7] for c in batch_codes()] == ["FALL26-"]


def test_a_target_outside_scope_or_organization_is_not_found(world):
    make, org, room, algebra = world
    teacher = make.user("Ivy Instructor")
    mine = make.course(org, "Biology", instructors=[teacher])
    elsewhere = make.org(name="Elm School")
    foreign = make.classroom(elsewhere, "Elm Room")
    for data in (
        BatchInput(course_ids=[mine.id, algebra.id], count=5),
        BatchInput(classroom_ids=[room.id], count=5),
    ):
        with pytest.raises(OutOfScope):
            generate_batch(teacher, Scope(teacher, org), data)
    with pytest.raises(OutOfScope):
        generate_batch(org.admin, Scope(org.admin, org), BatchInput(classroom_ids=[foreign.id], count=5))
    db.session.rollback()
    assert batch_codes() == [] and count(Batch) == 0
    batch = make_batch(org, actor=teacher, course_ids=[mine.id], count=2)
    assert batch.count == 2
