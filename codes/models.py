"""Every table of the app. Times are stored as naive UTC; the organization's time
zone is applied when people type or read them (see codes.timeutil)."""
from datetime import datetime, timezone

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db


def utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Organization(db.Model):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("seat_limit IS NULL OR seat_limit >= 0", name="seat_limit_positive"),
        CheckConstraint("seats_taken >= 0", name="seats_taken_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    seat_limit: Mapped[int | None] = mapped_column(Integer)
    # A counter, not a count: redemption updates it under the organization's row
    # lock, so the limit holds exactly while many people join at once.
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    default_code_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    classrooms: Mapped[list["Classroom"]] = relationship(
        back_populates="organization", order_by="Classroom.name"
    )
    courses: Mapped[list["Course"]] = relationship(
        back_populates="organization", order_by="Course.name"
    )

    @property
    def seats_free(self):
        if self.seat_limit is None:
            return None
        return max(self.seat_limit - self.seats_taken, 0)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    # Lower-cased email: the unique key, so emails compare case-insensitively.
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @staticmethod
    def key_for(email):
        return email.strip().lower()

    def set_password(self, password):
        # Tests lower the cost through PASSWORD_HASH_METHOD; production keeps scrypt.
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)

    @property
    def email_domain(self):
        return self.email_key.rpartition("@")[2]


class OrgMember(db.Model):
    """A person's place in an organization. `is_student` with `took_seat` is the
    seat: set once, by the first code that made them a student, never undone."""

    __tablename__ = "org_members"
    __table_args__ = (UniqueConstraint("org_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_student: Mapped[bool] = mapped_column(Boolean, default=False)
    took_seat: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    organization: Mapped[Organization] = relationship()
    user: Mapped[User] = relationship()


class ClassroomCourse(db.Model):
    __tablename__ = "classroom_courses"

    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), primary_key=True
    )
    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ClassroomLeader(db.Model):
    __tablename__ = "classroom_leaders"

    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ClassroomMember(db.Model):
    __tablename__ = "classroom_members"

    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CourseInstructor(db.Model):
    __tablename__ = "course_instructors"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Enrollment(db.Model):
    __tablename__ = "enrollments"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    enrolled_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Classroom(db.Model):
    __tablename__ = "classrooms"
    __table_args__ = (
        CheckConstraint("seat_allotment IS NULL OR seat_allotment >= 0",
                        name="seat_allotment_positive"),
        CheckConstraint("seats_used >= 0", name="seats_used_positive"),
        CheckConstraint("seat_allotment IS NULL OR seats_used <= seat_allotment",
                        name="seats_used_within_allotment"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The most new seats its codes may take, reserved for it; empty for no
    # allotment (docs/SEATS.md).
    seat_allotment: Mapped[int | None] = mapped_column(Integer)
    # A counter of the new seats its codes took, updated under the organization's
    # row lock like Organization.seats_taken.
    seats_used: Mapped[int] = mapped_column(Integer, default=0)
    # Its one current join code; the ones it replaced stay, deactivated.
    join_code_id: Mapped[int | None] = mapped_column(ForeignKey("codes.id", ondelete="SET NULL"))
    join_code: Mapped["Code | None"] = relationship(foreign_keys=[join_code_id])
    # Whether the parents linked to its members see it (docs/PARENTS.md): off
    # until a teacher turns it on.
    parents_can_see: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    organization: Mapped[Organization] = relationship(back_populates="classrooms")
    courses: Mapped[list["Course"]] = relationship(
        secondary="classroom_courses", order_by="Course.name", viewonly=True
    )
    leaders: Mapped[list[User]] = relationship(
        secondary="classroom_leaders", order_by="User.name", viewonly=True
    )
    members: Mapped[list[User]] = relationship(
        secondary="classroom_members", order_by="User.name", viewonly=True
    )


class Course(db.Model):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="courses")
    instructors: Mapped[list[User]] = relationship(
        secondary="course_instructors", order_by="User.name", viewonly=True
    )
    students: Mapped[list[User]] = relationship(
        secondary="enrollments", order_by="User.name", viewonly=True
    )


class CodeClassroom(db.Model):
    __tablename__ = "code_classrooms"

    code_id: Mapped[int] = mapped_column(
        ForeignKey("codes.id", ondelete="CASCADE"), primary_key=True
    )
    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CodeCourse(db.Model):
    __tablename__ = "code_courses"

    code_id: Mapped[int] = mapped_column(
        ForeignKey("codes.id", ondelete="CASCADE"), primary_key=True
    )
    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True, index=True
    )


ROLE_STUDENT = "student"
ROLE_TEACHER = "teacher"
REPLACED = "replaced"


class Code(db.Model):
    __tablename__ = "codes"
    __table_args__ = (
        CheckConstraint("max_uses IS NULL OR max_uses >= 1", name="max_uses_positive"),
        CheckConstraint("max_uses IS NULL OR uses <= max_uses", name="uses_within_max"),
        Index("ix_codes_org_created", "org_id", "created_at"),
        # The bulk page's table: an organization's live codes newest first, counted
        # and searched by key from the index alone, without reading the table.
        Index("ix_codes_org_listing", "org_id", "deleted_at", "created_at", "id", "key"),
        # One batch's live codes, newest first (the batch filter, and whether a batch
        # has a code one may see). org_id and deleted_at are here so that SQLite's
        # planner, which has no statistics, prefers this index to the one above.
        Index("ix_codes_batch_created", "batch_id", "org_id", "deleted_at", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(80))
    # The lookup key (codes.codetext.canonical): unique across the whole site.
    key: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(16), default=ROLE_STUDENT)
    valid_from: Mapped[datetime | None] = mapped_column(DateTime)
    valid_until: Mapped[datetime | None] = mapped_column(DateTime)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    # Space-separated lower-case domains; empty means any email.
    allowed_domains: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Why it was deactivated, when the person typing it should know:
    # REPLACED for a classroom's join code that a new one took over from.
    deactivated_reason: Mapped[str | None] = mapped_column(String(20))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The bulk generation that made it; empty for custom codes. Indexed by
    # ix_codes_batch_created below.
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"))

    organization: Mapped[Organization] = relationship()
    created_by: Mapped[User | None] = relationship()
    classrooms: Mapped[list[Classroom]] = relationship(
        secondary="code_classrooms", order_by="Classroom.name", viewonly=True
    )
    courses: Mapped[list[Course]] = relationship(
        secondary="code_courses", order_by="Course.name", viewonly=True
    )
    # The classroom whose current join code this is, if any.
    join_code_of: Mapped[Classroom | None] = relationship(
        foreign_keys=[Classroom.join_code_id], viewonly=True, uselist=False
    )

    @property
    def domains(self):
        return self.allowed_domains.split()


class Redemption(db.Model):
    __tablename__ = "redemptions"
    __table_args__ = (UniqueConstraint("code_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("codes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    took_seat: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    code: Mapped[Code] = relationship()
    user: Mapped[User] = relationship()


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_actor_action_time", "actor_id", "action", "created_at"),
        Index("ix_audit_ip_action_time", "ip", "action", "created_at"),
        Index("ix_audit_org_time", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Batch(db.Model):
    """One bulk generation of random codes: who, when, how many, the prefix, and
    the options every code of it got (JSON: expiry, max_uses, role, targets)."""

    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_org_created", "org_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    count: Mapped[int] = mapped_column(Integer)
    prefix: Mapped[str] = mapped_column(String(20), default="")
    options: Mapped[str] = mapped_column(Text, default="{}")

    created_by: Mapped[User | None] = relationship()


class ParentCode(db.Model):
    """A single-use code that links the parent who enters it to one student
    (docs/PARENTS.md). Its lookup key is unique across parent codes and codes."""

    __tablename__ = "parent_codes"
    # A student's live codes, oldest first: the five-code limit reads them.
    __table_args__ = (Index("ix_parent_codes_student_created", "student_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Set when a newer code pushed it out of the student's five, or when it was
    # cancelled: it no longer links anyone.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    student: Mapped[User] = relationship(foreign_keys=[student_id])
    used_by: Mapped[User | None] = relationship(foreign_keys=[used_by_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])


class ParentLink(db.Model):
    """A parent linked to a student. One row per pair: revoking keeps the row
    (who, when) and a later code links the pair again on it."""

    __tablename__ = "parent_links"
    __table_args__ = (UniqueConstraint("parent_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    parent: Mapped[User] = relationship(foreign_keys=[parent_id])
    student: Mapped[User] = relationship(foreign_keys=[student_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])
