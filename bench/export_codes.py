"""The codes export of one organization, timed: wall clock and the app process's
CPU, median of --runs, of every code (?status=all) streamed through the Flask
test client; with --worker, as the worker makes it instead (the app's way for
an export of more than EXPORT_INLINE_MAX rows, docs/EXPORTS.md): the file made
and stored in compressed chunks, and its mail queued. The organization is built
as bench/growth.py builds its sizes (rows written straight into the tables),
with --codes codes.

    .venv/bin/python bench/export_codes.py --codes 100000            # SQLite in a temporary file
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:55432/codes_export_bench \\
        .venv/bin/python bench/export_codes.py --codes 100000

The database named by DATABASE_URL is emptied first: its name must contain "bench".
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import growth  # noqa: E402

from codes import access  # noqa: E402
from codes.bulk import operations as bulk  # noqa: E402
from codes.exports import operations as exports  # noqa: E402
from codes.extensions import db  # noqa: E402
from codes.models import Export, User, utcnow  # noqa: E402


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--students", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help="time the worker's job, not the request")
    args = parser.parse_args()
    app, url, admin_id, folder = growth.empty_app("export")
    with app.app_context():
        admin = db.session.get(User, admin_id)
        began = time.perf_counter()
        world = growth.build_org(admin, "Export", args.students, args.codes, random.Random(2027), utcnow())
        db.session.commit()
        growth.settle()
        print(f"{world['codes']:,} codes built in {time.perf_counter() - began:.1f} s", flush=True)
        admin_id = admin.id
        db.session.remove()
    if args.worker:
        time_worker(app, admin_id, world["org"], args.runs)
        return
    client = growth.signed_in(app, admin_id)
    path = f"/orgs/{world['org']}/bulk/export.csv?status=all"
    growth.time_download(app, client, path, args.runs)


def time_worker(app, admin_id, org_id, runs):
    """The worker's job for an export of every code, `runs` times (each a new
    export, as asked from the page): medians of the wall clock and of this
    process's CPU, and the file's size."""
    wall, cpu = [], []
    for _ in range(runs):
        with app.app_context():
            admin = db.session.get(User, admin_id)
            _, scope = access.org_for_staff(admin, org_id)
            export = exports.ask(admin, scope, exports.CODES, bulk.CodeFilter(status=bulk.ANY_STATUS))
            db.session.commit()
            export_id, attempt = export.id, export.attempt
            db.session.remove()
            began, used = time.perf_counter(), time.process_time()
            made = exports.make(export_id, attempt)
            wall.append(time.perf_counter() - began)
            cpu.append(time.process_time() - used)
            export = db.session.get(Export, export_id)
            assert made == exports.READY, made
            rows, size, backend = export.rows, export.size, db.engine.dialect.name
            db.session.remove()
    print(
        f"{backend}: the worker made {rows:,} rows ({size / 2**20:.1f} MiB), "
        f"wall {statistics.median(wall):.2f} s, "
        f"app CPU {statistics.median(cpu):.2f} s (median of {runs}; os.getloadavg() {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
