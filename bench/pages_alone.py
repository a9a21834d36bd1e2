"""Where a staff page's time goes: in a world built by bench/growth.py (SQLite, one
size), each SELECT the page runs timed alone (best of 7) and the request's CPU time
(median of 15), for the codes table's first page and the people list's first and
last pages. CPU time and statements timed alone move less with the machine's load
than a request's wall clock.

    .venv/bin/python bench/pages_alone.py --size 2
    .venv/bin/python bench/pages_alone.py --size 2 --code /path/to/another/checkout

--code imports the app and bench/growth.py from another checkout (an export of an
older commit, say), so that two versions are measured by the same script.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

PAGES = ("bulk codes, first", "people, first", "people, last")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1, help="1, 2 or 3: S1, S2 or S3")
    parser.add_argument("--code", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args()
    sys.path[:0] = [args.code, str(Path(args.code) / "bench")]
    import growth  # noqa: PLC0415

    from codes.extensions import db  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        app = growth.app_for(f"sqlite:///{tmp}/alone.db")
        admin_id, worlds = growth.build(app, [args.size])
        client = growth.signed_in(app, admin_id)
        with app.app_context():
            statements = growth.Statements(db.engine)
        for name, url, headers in growth.pages(worlds[args.size]):
            if not name.startswith(PAGES):
                continue
            growth.ok(client.get(url, headers=headers))
            cpu = []
            for _ in range(15):
                began = time.process_time()
                growth.ok(client.get(url, headers=headers))
                cpu.append(1000 * (time.process_time() - began))
            seen = statements.during(
                lambda url=url, headers=headers: growth.ok(client.get(url, headers=headers))
            )
            print(f"== {name} ({url}): request CPU {statistics.median(cpu):.1f} ms, {len(seen)} statements")
            with app.app_context():
                raw = db.engine.raw_connection()
                try:
                    cursor = raw.cursor()
                    total = 0.0
                    for statement, parameters in seen:
                        if not statement.lstrip().upper().startswith("SELECT"):
                            continue
                        best = float("inf")
                        for _ in range(7):
                            began = time.perf_counter()
                            cursor.execute(statement, parameters)
                            cursor.fetchall()
                            best = min(best, time.perf_counter() - began)
                        total += best
                        print(f"  {1000 * best:7.2f} ms  {' '.join(statement.split())[:140]}")
                    print(f"  {1000 * total:7.2f} ms  all its SELECTs alone")
                finally:
                    raw.close()
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
