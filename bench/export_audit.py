"""The audit log's CSV export of one organization, timed: wall clock, the app
process's CPU and the statements run, median of --runs, of every event streamed
through the Flask test client. The organization is built as bench/growth.py
builds its sizes (rows written straight into the tables), beside another
organization: --students 10000 makes about 24,000 events, S2's log.

    .venv/bin/python bench/export_audit.py --students 10000            # SQLite in a temporary file
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:55432/codes_audit_bench \\
        .venv/bin/python bench/export_audit.py --students 10000

The database named by DATABASE_URL is emptied first: its name must contain "bench".
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import growth  # noqa: E402

from codes.extensions import db  # noqa: E402
from codes.models import User, utcnow  # noqa: E402


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app, url, admin_id, folder = growth.empty_app("audit")
    with app.app_context():
        admin = db.session.get(User, admin_id)
        began = time.perf_counter()
        rng = random.Random(2027)
        growth.build_org(admin, "Beside", args.students // 10, args.codes // 10, rng, utcnow())
        world = growth.build_org(admin, "Audit", args.students, args.codes, rng, utcnow())
        db.session.commit()
        growth.settle()
        print(f"{world['events']:,} events built in {time.perf_counter() - began:.1f} s", flush=True)
        admin_id = admin.id
        db.session.remove()
    client = growth.signed_in(app, admin_id)
    path = f"/orgs/{world['org']}/audit.csv"
    growth.time_download(app, client, path, args.runs)


if __name__ == "__main__":
    main()
