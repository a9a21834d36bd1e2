"""Lighthouse's accessibility and best-practices scores of every main page of every
role (the pages and the data of tests/a11y_support.py), as in docs/ACCESSIBILITY.md.

Lighthouse is an npm package, installed outside the repository, and drives
Debian's Chromium:

    cd /tmp && npm install lighthouse@13.5.0
    LIGHTHOUSE=/tmp/node_modules/.bin/lighthouse CHROME_PATH=/usr/bin/chromium \\
        .venv/bin/python bench/lighthouse.py

The app runs on loopback with a fresh SQLite database in a temporary folder; each
role logs in through the app and Lighthouse opens its pages with that session's
cookie. Prints one Markdown table row a page, and each audit that did not pass.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from a11y_support import main_pages, seed  # noqa: E402
from codes.extensions import db  # noqa: E402
from codes.models import User  # noqa: E402
from conftest import PASSWORD, build_app  # noqa: E402
from databases import DATABASES, SQLiteTemplate  # noqa: E402

LIGHTHOUSE = os.environ.get("LIGHTHOUSE", "lighthouse")
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu"


def session_cookie(app, email):
    """The cookie of a session of this person, logged in through the app."""
    client = app.test_client()
    client.login(db.session.scalar(select(User).where(User.email == email)), PASSWORD)
    name = app.config["SESSION_COOKIE_NAME"]
    return f"{name}={client.get_cookie(name).value}"


def lighthouse(url, cookie, out):
    command = [
        LIGHTHOUSE,
        url,
        "--only-categories=accessibility,best-practices",
        "--output=json",
        f"--output-path={out}",
        f"--chrome-flags={CHROME_FLAGS}",
        "--quiet",
    ]
    if cookie:
        command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    subprocess.run(command, check=True, timeout=300, env={**os.environ})
    report = json.loads(Path(out).read_text())
    scores = {name: round(category["score"] * 100) for name, category in report["categories"].items()}
    failed = [
        f"{audit['id']}: {audit['title']}"
        for audit in report["audits"].values()
        if audit.get("score") is not None
        and audit["score"] < 1
        and audit.get("scoreDisplayMode") in ("binary", "numeric")
    ]
    return scores, failed


def main():
    folder = Path(tempfile.mkdtemp(prefix="codes-lighthouse-"))
    # build_app copies a schema-only file, which the tests' session fixture makes.
    DATABASES.template = SQLiteTemplate(folder)
    app = build_app(f"sqlite:///{folder / 'lighthouse.db'}")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config.update(PUBLIC_URL=base, TRUSTED_HOSTS=["127.0.0.1", "localhost"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with app.app_context():
        world = seed()
        cookies = {role: session_cookie(app, email) for role, email in world["emails"].items()}
    print("| role | page | accessibility | best practices |")
    print("|---|---|---|---|")
    problems = []
    for number, (role, path) in enumerate(main_pages(world)):
        scores, failed = lighthouse(base + path, cookies.get(role), folder / f"{number}.json")
        print(f"| {role} | `{path}` | {scores['accessibility']} | {scores['best-practices']} |", flush=True)
        problems += [f"{role} {path}: {line}" for line in failed]
    server.shutdown()
    for line in problems:
        print(line)


if __name__ == "__main__":
    main()
