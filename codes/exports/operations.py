"""Big exports (issue 16, docs/EXPORTS.md): an export of more rows than
EXPORT_INLINE_MAX is not streamed by the request. The request writes an Export
row and its job in its own transaction; a worker rebuilds the person's scope,
writes the CSV into the database in compressed chunks, each in a short
transaction of its own, and mails the person a link. Only that person, while
still staff of the organization with the role the export needs, downloads it,
until it expires; an hourly job deletes the expired ones."""

import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, insert, select, update

from .. import access, csvfile, database, jobs, mail, messages
from ..auditlog import operations as auditlog
from ..bulk import operations as bulk
from ..errors import DomainError
from ..extensions import db
from ..jobs import periodic
from ..listing import capped_count
from ..models import Export, ExportChunk, Job, Organization, User, utcnow
from ..timeutil import format_local, to_local
from ..urls import public_url

PREPARING, READY, FAILED = "preparing", "ready", "failed"
CODES, AUDIT = "codes", "audit"
KIND = "export"
EXPIRE = "exports.expire"
# Defaults of the settings (codes/__init__.py, docs/DEPLOY.md).
EXPORT_INLINE_MAX = 50_000
EXPORT_KEEP_HOURS = 72
# At most this many of one person's exports of an organization are prepared at once.
PREPARING_AT_ONCE = 3
# About this much CSV text goes into one chunk before it is compressed: a few
# pieces of a thousand rows, so a million codes are some two hundred rows of
# export_chunks, and memory holds one chunk.
CHUNK_BYTES = 512 * 1024
# Rows in each piece of the audit log's CSV text (csvfile.chunks); the codes
# export writes a piece for each chunk of rows it reads (bulk.EXPORT_CHUNK).
ROWS_A_PIECE = csvfile.CHUNK
LISTED = 50


@dataclass(frozen=True)
class Kind:
    """One export the app has: its rows, who may have them, and its file's name."""

    name: str
    label: str
    admins_only: bool
    file_prefix: str
    query: Callable[[access.Scope, Any], Any]
    # The CSV text in pieces, each with the number of rows it holds: what the
    # request streams for a small export and what the worker stores for a big
    # one are made by this one function alike.
    pieces: Callable[[access.Scope, Any], Iterator[tuple[str, int]]]
    to_data: Callable[[Any], dict[str, Any]]
    from_data: Callable[[dict[str, Any]], Any]

    def may(self, scope: access.Scope) -> bool:
        return scope.admin if self.admins_only else scope.is_staff

    def filename(self, org: Organization, day: date) -> str:
        return f"{self.file_prefix}-{org.id}-{day.isoformat()}.csv"


def _code_filter_data(filters: bulk.CodeFilter) -> dict[str, Any]:
    data = asdict(filters)
    data.pop("page")
    return data


def _audit_filter_data(flt: auditlog.AuditFilter) -> dict[str, Any]:
    data = asdict(flt)
    data["since"] = flt.since.isoformat() if flt.since else None
    data["until"] = flt.until.isoformat() if flt.until else None
    return data


def _audit_filter(data: dict[str, Any]) -> auditlog.AuditFilter:
    days = {name: date.fromisoformat(data[name]) if data.get(name) else None for name in ("since", "until")}
    return auditlog.AuditFilter(**{**data, **days})


class _Counted:
    """Rows passed through, counted."""

    def __init__(self, rows: Iterable[Iterable[object]]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Iterable[object]]:
        for row in self.rows:
            self.count += 1
            yield row


def _audit_pieces(scope: access.Scope, flt: auditlog.AuditFilter) -> Iterator[tuple[str, int]]:
    """The audit log's CSV through csv.writer (csvfile.chunks), ROWS_A_PIECE rows
    a piece, each piece with the number of rows it holds."""
    counted = _Counted(auditlog.csv_row(entry) for entry in auditlog.entries(scope, flt))
    written = 0
    for text in csvfile.chunks(auditlog.csv_header(scope.org), counted, chunk=ROWS_A_PIECE):
        yield text, counted.count - written
        written = counted.count


KINDS = {
    CODES: Kind(
        name=CODES,
        label="codes",
        admins_only=False,
        file_prefix="codes",
        query=bulk.filtered_codes,
        pieces=bulk.export_pieces,
        to_data=_code_filter_data,
        from_data=lambda data: bulk.CodeFilter(**data),
    ),
    AUDIT: Kind(
        name=AUDIT,
        label="audit log",
        admins_only=True,
        file_prefix="audit-log",
        query=auditlog.query,
        pieces=_audit_pieces,
        to_data=_audit_filter_data,
        from_data=_audit_filter,
    ),
}


def inline_max() -> int:
    return int(current_app.config.get("EXPORT_INLINE_MAX", EXPORT_INLINE_MAX))


def is_big(kind: str, scope: access.Scope, filters: Any) -> bool:
    """Whether the export has more rows than EXPORT_INLINE_MAX: counted to one
    past it at most (listing.capped_count), so asking costs the same for any size."""
    return capped_count(KINDS[kind].query(scope, filters), cap=inline_max()).more


def csv_text(kind: str, scope: access.Scope, filters: Any) -> Iterator[str]:
    """The export's CSV text in pieces, as the request streams a small export."""
    return (text for text, _ in KINDS[kind].pieces(scope, filters))


def filename(kind: str, org: Organization, at: datetime) -> str:
    """The file's name, as the streamed export has always named it: the kind,
    the organization and the local day it was asked for."""
    local = to_local(org, at)
    assert local is not None
    return KINDS[kind].filename(org, local.date())


def keep_for() -> timedelta:
    return timedelta(hours=int(current_app.config.get("EXPORT_KEEP_HOURS", EXPORT_KEEP_HOURS)))


def ask(actor: User, scope: access.Scope, kind: str, filters: Any, now: datetime | None = None) -> Export:
    """Queue a big export of what the filter shows for the person, in the
    session's transaction (never commits): the export's row and its job are
    there once, and only if, the request commits. The filter is stored as plain
    data; the scope is rebuilt from the person when the worker makes the file.
    A person has at most PREPARING_AT_ONCE of an organization's exports being
    prepared at once."""
    database.begin_writing(db.session)
    now = now or utcnow()
    preparing = db.session.scalars(
        select(Export.id).where(
            Export.user_id == actor.id,
            Export.org_id == scope.org.id,
            Export.status == PREPARING,
            Export.expires_at > now,
        )
    ).all()
    if len(preparing) >= PREPARING_AT_ONCE:
        raise DomainError(messages.exports_waiting(len(preparing)))
    export = Export(
        org_id=scope.org.id,
        user_id=actor.id,
        kind=kind,
        filters=json.dumps(KINDS[kind].to_data(filters), separators=(",", ":")),
        status=PREPARING,
        created_at=now,
        # A file never made (its job given up) goes at this time too.
        expires_at=now + keep_for(),
    )
    db.session.add(export)
    db.session.flush()
    jobs.enqueue(KIND, {"export_id": export.id})
    return export


def mine(scope: access.Scope, now: datetime | None = None) -> list[Export]:
    """The person's own exports of the organization not yet expired, newest first."""
    return list(
        db.session.scalars(
            select(Export)
            .where(
                Export.user_id == scope.user.id,
                Export.org_id == scope.org.id,
                Export.expires_at > (now or utcnow()),
            )
            .order_by(Export.created_at.desc(), Export.id.desc())
            .limit(LISTED)
        )
    )


def ready_for(scope: access.Scope, export_id: int, now: datetime | None = None) -> Export:
    """The person's own ready export of this organization, while they still have
    the role it needs, or 404: another organization's, another person's, one
    expired or not ready are answered as if they did not exist."""
    export = access.found(db.session.get(Export, export_id))
    return access.found(
        export,
        export.org_id == scope.org.id
        and export.user_id == scope.user.id
        and export.status == READY
        and export.expires_at > (now or utcnow())
        and KINDS[export.kind].may(scope),
    )


def stored(export: Export) -> Iterator[bytes]:
    """The export's file as stored, one chunk in memory at a time."""
    chunks = (
        select(ExportChunk.data)
        .where(ExportChunk.export_id == export.id, ExportChunk.attempt == export.attempt)
        .order_by(ExportChunk.number)
        .execution_options(yield_per=4)
    )
    for data in db.session.scalars(chunks):
        yield zlib.decompress(data)


def _gathered(pieces: Iterable[tuple[str, int]]) -> Iterator[tuple[bytes, int]]:
    """CSV text gathered into chunks of about CHUNK_BYTES, encoded, each with
    the number of rows it holds."""
    gathered: list[str] = []
    size = rows = 0
    for text, count in pieces:
        gathered.append(text)
        size += len(text)
        rows += count
        if size >= CHUNK_BYTES:
            yield "".join(gathered).encode("utf-8"), rows
            gathered, size, rows = [], 0, 0
    if gathered:
        yield "".join(gathered).encode("utf-8"), rows


def _write_chunk(export_id: int, attempt: int, number: int, data: bytes) -> None:
    database.run_apart(
        lambda connection: connection.execute(
            insert(ExportChunk.__table__),
            {"export_id": export_id, "attempt": attempt, "number": number, "data": zlib.compress(data, 6)},
        )
    )


def make(export_id: int, attempt: int, now: datetime | None = None) -> str:
    """Make the export's file (the worker's job): its status after.

    The person's scope is rebuilt from them and the organization now: one who
    lost the role the export needs gets nothing, and the export is failed. The
    rows are read in one read transaction (on SQLite it takes no write lock)
    and each chunk is written in a short transaction of its own, so no writer
    waits for the export. The file is this attempt's chunks; the UPDATE that
    marks it ready is guarded by its status, so of two workers that made it
    (the first's lease ran out) one finishes it and one mail is queued.
    Commits."""
    with database.reading_first():
        try:
            export = db.session.get(Export, export_id)
            if export is None or export.status != PREPARING:
                return export.status if export is not None else FAILED
            user = db.session.get(User, export.user_id)
            org = db.session.get(Organization, export.org_id)
            assert user is not None and org is not None  # deleting either deletes the export
            kind = KINDS[export.kind]
            scope = access.Scope(user, org)
            if not kind.may(scope):
                database.begin_writing(db.session)
                _finish(export_id, status=FAILED)
                db.session.commit()
                return FAILED
            pieces = kind.pieces(scope, kind.from_data(json.loads(export.filters)))
            size = rows = 0
            for number, (data, count) in enumerate(_gathered(pieces), 1):
                _write_chunk(export_id, attempt, number, data)
                size += len(data)
                rows += count
            database.begin_writing(db.session)
            now = now or utcnow()
            expires = now + keep_for()
            if not _finish(
                export_id,
                status=READY,
                attempt=attempt,
                rows=rows,
                size=size,
                ready_at=now,
                expires_at=expires,
            ):
                db.session.rollback()
                return READY
            database.execute(
                delete(ExportChunk.__table__).where(
                    ExportChunk.export_id == export_id, ExportChunk.attempt != attempt
                )
            )
            subject, body = messages.export_ready_mail(
                user.name,
                org.name,
                kind.label,
                rows,
                public_url("exports.download", org_id=org.id, export_id=export_id),
                format_local(org, expires, with_zone=True),
                public_url("exports.mine", org_id=org.id),
            )
            mail.queue(user.email, subject, body, org=org)
            db.session.commit()
            return READY
        finally:
            db.session.rollback()


def _finish(export_id: int, **values: Any) -> bool:
    """Set the export's end while it is still being prepared: whether this did."""
    done = database.execute(
        update(Export.__table__)
        .where(Export.id == export_id, Export.status == PREPARING)
        .values(**values)
        .returning(Export.id)
    ).first()
    return done is not None


def failed(export_id: int) -> None:
    """The export's job was given up: the export says so. The caller commits."""
    _finish(export_id, status=FAILED)


def deliver(batch: Iterable[jobs.Claimed], done: Callable[[jobs.Claimed, str | None], bool]) -> None:
    """The worker's handler of export jobs (codes.jobs.register): a job outside
    the task's one transaction, since an export of a million rows would hold
    it, and on SQLite the one write lock, for its whole length. A failure is
    tried again with the queue's backoff; given up, the export is failed."""
    for job in batch:
        error = None
        try:
            make(int(job.payload["export_id"]), job.attempts)
        except Exception as failure:
            db.session.rollback()
            current_app.logger.exception("Export job %s failed", job.id)
            error = f"{type(failure).__name__}: {failure}"
            if utcnow() >= _give_up_at(job):
                failed(int(job.payload["export_id"]))
        if not done(job, error):
            return


def _give_up_at(job: jobs.Claimed) -> datetime:
    give_up = database.execute(select(Job.give_up_at).where(Job.id == job.id)).scalar()
    return give_up or utcnow()


jobs.register(KIND, deliver)


def hourly(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H")


@jobs.task(EXPIRE)
def expire(payload: dict[str, Any] | None = None, now: datetime | None = None) -> int:
    """Delete the exports whose time is over, with their files (the chunks go
    with them: ON DELETE CASCADE). Hourly, once per hour however many workers
    run (codes.jobs.periodic). How many were deleted."""
    gone = database.execute(
        delete(Export.__table__).where(Export.expires_at <= (now or utcnow())).returning(Export.id)
    ).all()
    return len(gone)


periodic.every(EXPIRE, hourly)
