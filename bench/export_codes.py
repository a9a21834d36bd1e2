"""The codes export of one organization, timed: wall clock and the app process's
CPU, median of --runs, of every code (?status=all) streamed through the Flask
test client. The organization is built as bench/growth.py builds its sizes
(rows written straight into the tables), with --codes codes.

    .venv/bin/python bench/export_codes.py --codes 100000            # SQLite in a temporary file
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:55432/codes_export_bench \\
        .venv/bin/python bench/export_codes.py --codes 100000

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
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--students", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
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
    client = growth.signed_in(app, admin_id)
    path = f"/orgs/{world['org']}/bulk/export.csv?status=all"
    growth.time_download(app, client, path, args.runs)


if __name__ == "__main__":
    main()
