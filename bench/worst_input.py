"""The worst text a person can send to the code box: how long the lookup key
(codes.codetext.canonical) and the /redeem POST take on long runs of trailing
punctuation, of dashes and of spaces, up to the body limit (MAX_CONTENT_LENGTH).
In the Flask test client on SQLite, one request at a time; prints milliseconds.

    .venv/bin/python bench/worst_input.py
    .venv/bin/python bench/worst_input.py --sizes 1000 20000 2000000
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codes import create_app  # noqa: E402
from codes.access import Scope  # noqa: E402
from codes.auth.operations import create_user  # noqa: E402
from codes.codetext import canonical  # noqa: E402
from codes.extensions import db  # noqa: E402
from codes.manage.operations import CodeInput, create_code  # noqa: E402
from codes.orgs import operations as orgs  # noqa: E402

PASSWORD = "bench-password"
# What the form's other fields and the encoding leave of the 2 MB body.
BODY_ROOM = 2 * 1024 * 1024 - 4096
RUNS = {
    "trailing dots": lambda n: "." * (n - 1) + "x",
    "dashes": lambda n: "-" * (n - 1) + "x",
    "spaces": lambda n: "A" + " " * (n - 2) + "x",
    # Sent as three bytes each (%29 and so on): a third as many fit in the body.
    "quotes and brackets": lambda n: (")'\"]" * n)[: min(n, BODY_ROOM // 3) - 1] + "x",
}


def timed(call, times):
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        spent.append(1000 * (time.perf_counter() - started))
    return statistics.median(spent)


def app_with_student(folder):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db",
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        db.create_all()
        admin = create_user("Ada Admin", "admin@bench.example", PASSWORD, verified=True)
        org = orgs.create_organization(admin, "Bench School")
        room = orgs.create_classroom(admin, org, "Room 1")
        create_code(admin, Scope(admin, org), CodeInput(text="ROOM-ONE-2027", classroom_ids=[room.id]))
        create_user("Sam Student", "sam@bench.example", PASSWORD, verified=True)
        db.session.commit()
    client = app.test_client()
    response = client.post("/login", data={"email": "sam@bench.example", "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    return client


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[200, 20_000, BODY_ROOM],
        help="characters in each text (the default's largest fills the body; "
        "200 is the longest a code may be)",
    )
    parser.add_argument("--times", type=int, default=5, help="repetitions; the median is shown")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        client = app_with_student(folder)
        print(f"{'input':<22} {'characters':>11} {'canonical()':>13} {'POST /redeem':>14}  answer")
        for name, make in RUNS.items():
            for size in options.sizes:
                text = make(size)
                key_ms = timed(lambda text=text: canonical(text), options.times)
                answers = []

                def post(text=text, answers=answers):
                    answers.append(
                        client.post(
                            "/redeem", data={"code": text}, headers={"HX-Request": "true"}
                        ).status_code
                    )

                post_ms = timed(post, options.times)
                print(
                    f"{name:<22} {len(text):>11,} {key_ms:>10.3f} ms {post_ms:>11.2f} ms  "
                    f"{sorted(set(answers))}"
                )


if __name__ == "__main__":
    main()
