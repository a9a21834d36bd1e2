"""Every table of the app. Times are stored as naive UTC; the organization's time
zone is applied when people type or read them (see codes.timeutil)."""

import unicodedata
from datetime import date, datetime, timezone

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from . import classroomcounts, membernames, search  # noqa: F401 (their indexes and triggers are made with the tables)
from .extensions import db


def utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


def folded(text):
    """Text as searches compare it, alike in every script: decomposed (NFKD),
    case-folded, without combining marks, so "Ñúñez" and "NUNEZ" are both
    "nunez" and "ΣΟΦΊΑ" is "σοφια". SQLite's lower() and LIKE fold only A to Z."""
    decomposed = unicodedata.normalize("NFKD", text or "").casefold()
    return "".join(c for c in decomposed if not unicodedata.combining(c))


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
    # A mail to each student who joins a classroom through a code (codes.notifications.alerts).
    welcome_mail: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    classrooms: Mapped[list["Classroom"]] = relationship(
        back_populates="organization", order_by="Classroom.name"
    )
    courses: Mapped[list["Course"]] = relationship(back_populates="organization", order_by="Course.name")


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
    # Name and email folded (search_key_for): what people searches read, set
    # wherever a name or an email is. An insert that leaves it out (a bulk
    # INSERT of rows) gets it from the row's own name and email.
    search_key: Mapped[str] = mapped_column(
        Text,
        default=lambda context: User.search_key_for(
            context.get_current_parameters()["name"], context.get_current_parameters()["email"]
        ),
    )

    @staticmethod
    def key_for(email):
        return email.strip().lower()

    @staticmethod
    def search_key_for(name, email):
        # A line break between: a search can't hold one, so none spans the two.
        return f"{folded(name)}\n{folded(email)}"

    def set_password(self, password):
        # Tests lower the cost through PASSWORD_HASH_METHOD; production keeps scrypt.
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)

    @property
    def email_domain(self):
        return self.email_key.rpartition("@")[2]

    # The token of the session this object was loaded or logged in with
    # (codes.auth.sessions); not a column: each request has its own.
    session_token = None

    def get_id(self):
        """What the session cookie (and a remember cookie) carries: the account and
        the session, so that ending the session's record logs out every copy of it."""
        if self.session_token is None:
            raise RuntimeError("log in through codes.auth.routes.log_in, which starts a session")
        return f"{self.id}:{self.session_token}"

    # UserMixin compares get_id(), which names the session too: the same account
    # loaded for two sessions is still the same person.
    def __eq__(self, other):
        if isinstance(other, User):
            return self.id == other.id
        return NotImplemented

    __hash__ = object.__hash__


class UserSession(db.Model):
    """One login. The cookie holds a random token; this table holds only its
    SHA-256, so a copy of the database opens no one's session. A session ends
    once, for good: at logout, when the password changes, or everywhere at once."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)


class OrgMember(db.Model):
    """A person's place in an organization. `is_student` with `took_seat` is the
    seat: set once, by the first code that made them a student, never undone."""

    __tablename__ = "org_members"
    __table_args__ = (
        UniqueConstraint("org_id", "user_id"),
        # The users tab: an organization's people by name, read in that order.
        Index("ix_org_members_org_name", "org_id", "name", "email_key", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_student: Mapped[bool] = mapped_column(Boolean, default=False)
    took_seat: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The person's name and email key, copied by the database (codes.membernames)
    # so that people are listed by name from the index above. Never written here.
    name: Mapped[str | None] = mapped_column(String(120))
    email_key: Mapped[str | None] = mapped_column(String(254))

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
    # When a code with a duration ends this membership (UTC; None: no end), and
    # when the person and the classroom's staff were told it is near (docs/CODES.md).
    ends_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime)


class CourseInstructor(db.Model):
    __tablename__ = "course_instructors"

    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Enrollment(db.Model):
    __tablename__ = "enrollments"

    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    enrolled_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Classroom(db.Model):
    __tablename__ = "classrooms"
    __table_args__ = (
        CheckConstraint("seat_allotment IS NULL OR seat_allotment >= 0", name="seat_allotment_positive"),
        CheckConstraint("seats_used >= 0", name="seats_used_positive"),
        CheckConstraint(
            "seat_allotment IS NULL OR seats_used <= seat_allotment", name="seats_used_within_allotment"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The most new seats its codes may take, reserved for it; empty for no
    # allotment (docs/SEATS.md).
    seat_allotment: Mapped[int | None] = mapped_column(Integer)
    # A counter of the new seats its codes took, updated under the organization's
    # row lock like Organization.seats_taken.
    seats_used: Mapped[int] = mapped_column(Integer, default=0)
    # Its members now, kept by the database's triggers (codes.classroomcounts):
    # never written by the app.
    member_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
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
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="courses")
    instructors: Mapped[list[User]] = relationship(
        secondary="course_instructors", order_by="User.name", viewonly=True
    )
    students: Mapped[list[User]] = relationship(secondary="enrollments", order_by="User.name", viewonly=True)


class CodeClassroom(db.Model):
    __tablename__ = "code_classrooms"

    code_id: Mapped[int] = mapped_column(ForeignKey("codes.id", ondelete="CASCADE"), primary_key=True)
    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CodeCourse(db.Model):
    __tablename__ = "code_courses"

    code_id: Mapped[int] = mapped_column(ForeignKey("codes.id", ondelete="CASCADE"), primary_key=True)
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
    # When the last of its classrooms and courses was deleted: it places nobody
    # since, and shows as no longer valid (codes.status). A mark, not a
    # deactivation: given a target again (an edit), it works again. Set where
    # classrooms and courses are deleted (codes.orgs.operations).
    targets_deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The bulk generation that made it; empty for custom codes. Indexed by
    # ix_codes_batch_created below.
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"))
    # Approval mode (docs/APPROVAL.md): a redemption waits as a JoinRequest until
    # its staff accept it; the use and the seat are counted only then.
    approval: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The leak guard: more direct redemptions in the last hour than this, or one
    # from an email domain other than these (space-separated), switches the code
    # to approval mode by itself. Empty: no such check.
    hourly_limit: Mapped[int | None] = mapped_column(Integer)
    expected_domains: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The usual-rate guard: an hour of far more direct redemptions than the
    # code's usual rate switches it to approval mode (codes.redeem.leakguard).
    surge_guard: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the spike the guard saw began, and why it switched (SPIKE_RATE,
    # SPIKE_SURGE or SPIKE_DOMAIN); cleared when staff dismiss the warning. For
    # SPIKE_SURGE, what the guard saw: the hour's redemptions, with the one that
    # tripped it, and the usual rate (redemptions an hour) it was held against.
    spike_at: Mapped[datetime | None] = mapped_column(DateTime)
    spike_reason: Mapped[str | None] = mapped_column(String(20))
    spike_count: Mapped[int | None] = mapped_column(Integer)
    spike_usual: Mapped[float | None] = mapped_column(Float)
    # How long the membership of its classrooms lasts: a number of days from the
    # redemption, or until a moment (UTC), or neither (docs/CODES.md, "Duration").
    member_days: Mapped[int | None] = mapped_column(Integer)
    member_until: Mapped[datetime | None] = mapped_column(DateTime)

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

    @property
    def expected(self):
        return self.expected_domains.split()


# On PostgreSQL a page of codes keeps a tenth of its room free. A use changes
# only `uses`, which no index holds, so while its page has room the new version
# of the row stays on it: a HOT update, which adds no entry to any of the
# table's indexes. Pages filled by a bulk generation had no room, so the first
# use of nearly every code wrote the row to another page and an entry to each
# of its indexes (docs/PERFORMANCE.md, "Redemption on PostgreSQL").
CODES_FILLFACTOR = 90


@event.listens_for(Code.__table__, "after_create")
def _leave_room_on_each_page(target, connection, **kw):
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"ALTER TABLE codes SET (fillfactor = {CODES_FILLFACTOR})"))


SPIKE_RATE = "rate"
SPIKE_SURGE = "surge"
SPIKE_DOMAIN = "domain"


class Redemption(db.Model):
    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("code_id", "user_id"),
        # The users tab: the redemptions of the 25 people on a page, in one
        # organization, without reading all of its redemptions.
        Index("ix_redemptions_user_org", "user_id", "org_id"),
        # The leak guard's counts of a code's own redemptions in a time window
        # (the last hour, the weeks before it) and its first one, from the index
        # alone, however long the code's history.
        Index("ix_redemptions_code_arrivals", "code_id", "through_request", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("codes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    took_seat: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Made by staff accepting a JoinRequest, not by the person's own redemption:
    # the leak guard's hourly count reads only the latter.
    through_request: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    code: Mapped[Code] = relationship()
    user: Mapped[User] = relationship()


class ReportDay(db.Model):
    """The report figures of one organization's day (in its time zone, as the
    reports' buckets are), kept exact by the change that moves them in its own
    transaction (codes.reports.aggregates). One row per day for the whole
    organization (code_id and classroom_id 0), per day and code (classroom_id
    0), per day and classroom (code_id 0): 0 is "all", never an id, so the one
    primary key makes every upsert one statement on SQLite and PostgreSQL."""

    __tablename__ = "report_days"
    __table_args__ = (
        # The codes and classrooms of a period: its days' rows, whatever their kind.
        Index("ix_report_days_org_day", "org_id", "day"),
    )

    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    code_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    classroom_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # Redemptions, those of them that took a seat, and people a roster placed
    # who took a seat (new members without a code).
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    new_members: Mapped[int] = mapped_column(Integer, default=0)
    placed: Mapped[int] = mapped_column(Integer, default=0)


class ReportMonth(db.Model):
    """The sums of an organization's report days (ReportDay) month by month, the
    month named by its first day in the organization's time zone, kept in the
    same statements' transaction as the days: a long period reads a row per code
    or classroom and month, and days only for its partial months at either end."""

    __tablename__ = "report_months"
    __table_args__ = (Index("ix_report_months_org_month", "org_id", "month"),)

    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    code_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    classroom_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    new_members: Mapped[int] = mapped_column(Integer, default=0)
    placed: Mapped[int] = mapped_column(Integer, default=0)


# Below EXACT_BANDS redemptions, a total's band is its count; from there, one
# band for each power of two (8 to 15, 16 to 31, ...). Bands never overlap and
# rise with the count, so totals in band order are in the order of their
# counts; within a band below EXACT_BANDS, every count is the same. Written as
# SQL both databases compute in a generated column (up to 2**40; above, one band).
EXACT_BANDS = 8
BAND_BITS = 40


def redemptions_band(count: int) -> int:
    """The band of a count, as REDEMPTIONS_BAND computes it in the database."""
    if count < EXACT_BANDS:
        return count
    return EXACT_BANDS - EXACT_BANDS.bit_length() + min(count.bit_length(), BAND_BITS + 1)


REDEMPTIONS_BAND = (
    "CASE WHEN redemptions < %d THEN redemptions " % EXACT_BANDS
    + " ".join(
        "WHEN redemptions < %d THEN %d" % (2**bits, redemptions_band(2 ** (bits - 1)))
        for bits in range(EXACT_BANDS.bit_length(), BAND_BITS + 1)
    )
    + " ELSE %d END" % redemptions_band(2**BAND_BITS)
)


class ReportTotal(db.Model):
    """An organization's report figures since the start, kept in the same
    transactions as its days (ReportDay): one row per code (classroom_id 0), per
    classroom (code_id 0), and per code and each classroom it places people in
    now (the code's redemptions, as that classroom counts them). No row for the
    whole organization: its timeline reads its days. The code's text and the
    band of its redemptions are kept beside its figures so that one index gives
    "all time"'s table of the most redeemed codes nearly in its order (most
    redeemed first, then by text) and its rows are read band by band from the
    top, stopping after the table's rows (reports.operations._top_codes_ever)."""

    __tablename__ = "report_totals"

    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    code_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    classroom_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The code's text ("" on a classroom's row), as Code.text orders it.
    code_text: Mapped[str] = mapped_column(String(80), default="")
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    new_members: Mapped[int] = mapped_column(Integer, default=0)
    placed: Mapped[int] = mapped_column(Integer, default=0)
    # The band of `redemptions` (redemptions_band): computed by the database on
    # every write, whoever writes the row.
    band: Mapped[int] = mapped_column(Integer, Computed(REDEMPTIONS_BAND))


# The totals of an organization's codes (classroom_id 0) or of a classroom's, by
# band, then text. Not by `redemptions` itself: an index that held it would make
# every redemption's update of its totals a new row version with a new entry in
# every index of the table (no HOT update on PostgreSQL), and the entries of a
# code redeemed many times at once (a join code) pile up faster than they can be
# cleaned, each upsert checking them all (docs/PERFORMANCE.md, "All time from
# running totals"). A band changes at a few counts only (8, 16, 32, ...).
Index(
    "ix_report_totals_order",
    ReportTotal.org_id,
    ReportTotal.classroom_id,
    ReportTotal.band,
    ReportTotal.code_text,
)


# What became of a JoinRequest.
PENDING = "pending"
ACCEPTED = "accepted"
DECLINED = "declined"
REFUSED = "refused"  # accepted by staff, but the code could no longer place the person


class JoinRequest(db.Model):
    """A redemption of a code in approval mode, waiting for its staff
    (docs/APPROVAL.md). One per code and person, whatever became of it: a
    person cannot pile up requests, and a declined one stays declined."""

    __tablename__ = "join_requests"
    __table_args__ = (
        UniqueConstraint("code_id", "user_id"),
        Index("ix_join_requests_code_state", "code_id", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("codes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Why it was declined or could not be accepted, in words for the person.
    reason: Mapped[str] = mapped_column(Text, default="")

    code: Mapped[Code] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class RetiredKey(db.Model):
    """A lookup key a code had before it was rotated (codes.redeem.leakguard):
    whoever types it is told it is no longer valid, and no code or parent code
    may take it again (codes.keys)."""

    __tablename__ = "retired_keys"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("codes.id", ondelete="CASCADE"), index=True)
    retired_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_actor_action_time", "actor_id", "action", "created_at"),
        Index("ix_audit_ip_action_time", "ip", "action", "created_at"),
        Index("ix_audit_org_time", "org_id", "created_at"),
        # The users tab: when roster uploads placed the people of a page.
        Index("ix_audit_org_action_object", "org_id", "action", "object_type", "object_id"),
        # The log's person filter: the events of the people a search finds, in one
        # organization (codes.search.read_first); org_id second so that SQLite's
        # planner, without statistics, prefers it to the organization's index.
        Index("ix_audit_actor_org_time", "actor_id", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
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
    # The organization whose student (or classroom's teacher) made it: the link
    # it makes belongs to that organization alone.
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
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
    organization: Mapped[Organization] = relationship()
    used_by: Mapped[User | None] = relationship(foreign_keys=[used_by_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])


class ParentLink(db.Model):
    """A parent linked to a student through one organization's parent code: the
    link belongs to that organization, whose admins alone see and revoke it, and
    through it the parent sees only that organization's classrooms. One row per
    parent, student and organization: revoking keeps the row (who, when) and a
    later code of that organization links the pair again on it."""

    __tablename__ = "parent_links"
    __table_args__ = (
        UniqueConstraint("parent_id", "student_id", "org_id"),
        Index("ix_parent_links_org_created", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    parent_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    parent: Mapped[User] = relationship(foreign_keys=[parent_id])
    student: Mapped[User] = relationship(foreign_keys=[student_id])
    organization: Mapped[Organization] = relationship()
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])


class Invitation(db.Model):
    """An organization's invitation to an email (DESIGN.md "People and what they
    may touch"): the person joins only by accepting it, logged in as the account
    with that email; until then the organization sees the email it typed and
    nothing of any account. A roster's invitation names the classroom to place
    them in, and takes its seat on acceptance."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_org_email", "org_id", "email_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    # As staff typed it; email_key is how it is matched to an account.
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), index=True)
    classroom_id: Mapped[int | None] = mapped_column(ForeignKey("classrooms.id", ondelete="SET NULL"))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    declined_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)

    organization: Mapped[Organization] = relationship()
    classroom: Mapped[Classroom | None] = relationship()

    def is_pending(self, now=None):
        return (
            self.accepted_at is None
            and self.declined_at is None
            and self.cancelled_at is None
            and self.expires_at >= (now or utcnow())
        )


class PendingSignup(db.Model):
    """A sign-up waiting for its email to be confirmed: the account is made only
    when the link mailed to the address is followed, so the sign-up form answers
    the same whether or not the email has an account (docs/SECURITY.md)."""

    __tablename__ = "pending_signups"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), index=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    # The code typed with the sign-up, redeemed when it is finished.
    code_text: Mapped[str] = mapped_column(String(200), default="")
    # Where to go after (a path on this site), as the sign-up form was asked.
    next_path: Mapped[str] = mapped_column(String(500), default="")
    # The browser that signed up finishes with one click; any other must type
    # the password chosen (a stranger who signed up with someone's address
    # cannot hand them an account with a password the stranger knows).
    browser_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class AttemptCount(db.Model):
    """Attempts counted under one key in its current window (codes.attempts):
    failures, and attempts under way that may still turn out to be failures."""

    __tablename__ = "attempt_counts"

    # "<kind>:<account|address>:<value>", e.g. "codes:address:192.0.2.7".
    name: Mapped[str] = mapped_column(String(320), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    # Whole seconds since the epoch (UTC): the window's start and end.
    started_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class ExpectedPerson(db.Model):
    """An email staff expect in a classroom (docs/EXPECTED.md): the classroom shows
    whether one of its own members has that email, and nothing about any account
    outside it. One row per classroom and email (compared case-insensitively)."""

    __tablename__ = "expected_people"
    __table_args__ = (UniqueConstraint("classroom_id", "email_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    classroom_id: Mapped[int] = mapped_column(ForeignKey("classrooms.id", ondelete="CASCADE"))
    # As staff typed it; email_key (User.key_for) is how it meets a member's email.
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120), default="")
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Job(db.Model):
    """Work that leaves the request (a mail to send), written by the same
    transaction as the change that causes it: a change rolled back leaves no
    job, a change committed leaves one that a worker takes (codes.jobs,
    docs/JOBS.md). A job is queued until a worker finishes it (done) or gives
    it up (failed); a worker holds it while lease_until is ahead."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_ready", "status", "run_after"),
        Index("ix_jobs_org_status", "org_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    # Random and fixed for the job's life: the mail's Message-ID, so a mail sent
    # again after a crash is known for the same one.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    # The organization whose admins see it fail; empty for mail of no organization's.
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    worker: Mapped[str] = mapped_column(String(80), default="")
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # A job still failing after this is given up (and shown to the admins).
    give_up_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class PeriodicRun(db.Model):
    """One row for each periodic job and period it ran for (a digest for one
    day): whichever worker inserts it first enqueues the job, in the same
    transaction, so several workers run it once."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Export(db.Model):
    """A big CSV export asked for by a staff member and made by a worker
    (codes.exports, docs/EXPORTS.md): what was asked (the kind and the filter,
    as plain data) and, once ready, the file itself in ExportChunk rows, kept in
    the database so any web or worker machine can write and serve it. Only its
    owner downloads it, while still staff of the organization, until it expires."""

    __tablename__ = "exports"
    __table_args__ = (
        Index("ix_exports_owner", "user_id", "org_id", "created_at"),
        Index("ix_exports_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # "codes" or "audit": which export, so which rows and which role it needs.
    kind: Mapped[str] = mapped_column(String(10))
    # The filter as JSON, read again by the worker.
    filters: Mapped[str] = mapped_column(Text)
    # "preparing", "ready" or "failed".
    status: Mapped[str] = mapped_column(String(10), default="preparing")
    # The attempt whose chunks are the file: a worker that took the job after an
    # earlier one died writes its own, and only the one that finishes counts.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Deleted with its file after this (the periodic exports.expire).
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class ExportChunk(db.Model):
    """One piece of an export's CSV, compressed (zlib) on its own: written in
    its own short transaction and read one at a time, so neither making nor
    serving a file of any size holds more than one piece in memory."""

    __tablename__ = "export_chunks"

    export_id: Mapped[int] = mapped_column(ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class NotificationSetting(db.Model):
    """What mail a person of an organization's staff chose to get from it: the
    daily digest of who joined, and the alerts (each on unless turned off on the
    notifications page or by its mails' one-click unsubscribe)."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    daily_digest: Mapped[bool] = mapped_column(Boolean, default=True)
    # Seats running low or out, a code nearly or wholly used (codes.notifications.alerts).
    alerts: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class ClassroomNotificationSetting(db.Model):
    """A staff member's choice of the mail that concerns one classroom (who
    joined it, in the daily digest; the alerts about its codes), over their
    organization's (NotificationSetting): None follows the organization's. A
    row with both None is not kept."""

    __tablename__ = "classroom_notification_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    daily_digest: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    alerts: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
