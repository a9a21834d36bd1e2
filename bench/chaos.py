"""Chaos benchmark: the app as deployed, nginx (deploy/nginx.conf.template) in front of
two gunicorn servers of two workers each, under load from students who redeem codes in
the code box (as htmx sends it) and load their profile, while faults happen one after
another:

1. PostgreSQL: a worker of the first server killed (SIGKILL) in the middle of a request;
2. PostgreSQL stopped (fast shutdown) for a few seconds, then started again: a
   throwaway cluster of the bench's own (initdb in a temporary folder, as the postgres
   user when the bench runs as root);
3. SQLite: the worker holding the write lock frozen (SIGSTOP), until gunicorn's
   --timeout ends it;
4. SQLite: the disk full for a few seconds, then freed. The database lives on a small
   tmpfs mounted in a user and mount namespace of the bench's own (unshare -Urm), so
   no root is needed; a file fills it, then is deleted.

There is no Redis fault: the app no longer uses Redis (attempts are counted in the
database, codes/attempts.py).

For each fault it prints the answers by status, when the errors began and ended, the
slowest answer, how long after the fault's cause was gone every answer was right again,
and whether every count was exact: per code uses equal redemptions, single-use codes
used at most once, the seats counter equals the students seated and the redemptions
that took a seat (load.exact_counts); every join a student was told of is in the
database; a redemption nobody was told of belongs to a request answered with an error.

    .venv/bin/python bench/chaos.py

Everything runs on 127.0.0.1 and in temporary folders, and every wait is bounded: about
five minutes in all with the default --worker-timeout of 60 s (docs/DEPLOY.md runs
gunicorn with --timeout 60). It exits 1 when a count was not exact, not for error
answers: those it reports.
"""

import argparse
import errno
import http.client
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
# served_support: gunicorn and nginx started as the tests start them.
sys.path.insert(0, str(ROOT / "tests"))

import load  # noqa: E402  (bench/load.py: the world, its codes and its checks)
from sqlalchemy import select  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from codes import create_app  # noqa: E402
from codes.extensions import db  # noqa: E402
from codes.models import Code, Organization  # noqa: E402
from served_support import Gunicorn, Nginx, nginx_path  # noqa: E402

NO_ANSWER = 0  # the connection to nginx failed: no status at all
RIGHT = (200, 303)
ROOMS = [f"BENCH-ROOM{n}-2027" for n in range(1, load.CLASSROOMS + 1)]
DISK_MB = 64


# --- the clients ------------------------------------------------------------------------


def ask(port, method, path, session, form=None, headers=None):
    """(status, body) of one request on a connection of its own; NO_ANSWER when the
    connection fails, which is recorded, never sent again (a POST sent twice would
    be the bench's doing, not the app's)."""
    all_headers = {"X-Forwarded-For": session.address, **(headers or {})}
    if session.cookie:
        all_headers["Cookie"] = session.cookie
    body = None
    if form is not None:
        body = urlencode(form)
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    # Longer than nginx waits (75 s): nginx answers first.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=100)
    try:
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        text = response.read().decode()
    except (http.client.HTTPException, OSError):
        return NO_ANSWER, ""
    finally:
        connection.close()
    cookie = response.getheader("Set-Cookie")
    if cookie:
        session.cookie = cookie.split(";", 1)[0]
    found = load.CSRF.search(text)
    if found:
        session.token = found.group(1)
    return response.status, text


def outcome_of(status, body):
    """load.outcome_of, but for "You're already in ...", in the same green message
    as a join (a single-use code for a room the student is in already): it counts
    nothing, so no redemption is to be found for it."""
    if not status:
        return "no answer"
    outcome = load.outcome_of(status, body)
    if outcome == "joined" and 'role="status">You joined ' not in body:
        return "already in"
    return outcome


def log_in(port, sessions, clients):
    refused = []

    def some(part):
        for session in part:
            ask(port, "GET", "/login", session)
            status, _ = ask(
                port,
                "POST",
                "/login",
                session,
                {"csrf_token": session.token, "email": session.email, "password": load.PASSWORD},
            )
            if status != 303:
                refused.append(f"{session.email}: {status}")
            ask(port, "GET", "/profile", session)

    threads = [threading.Thread(target=some, args=(sessions[n::clients],)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if refused:
        raise SystemExit(f"{len(refused)} students could not log in, such as {refused[0]}")


class Load:
    """`clients` students' browsers at once, until stopped: each redeems its next code
    and loads its profile every other time, pausing `think` seconds between requests.
    Every request is recorded with when it began and ended."""

    def __init__(self, port, sessions, singles, clients, think, seed):
        self.port = port
        self.singles = singles
        self.think = think
        self.records = []  # (began, ended, method, status, email, code text, outcome)
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        self.done = threading.Event()
        self.pending = {}  # thread -> when its request began
        self.threads = [
            threading.Thread(
                target=self._client, args=(sessions[n::clients], random.Random(seed + n)), daemon=True
            )
            for n in range(clients)
        ]

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.done.set()
        self.gate.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def hold(self, within=150):
        """Start no new request, and wait for those in flight to end, so that the
        database is read with every answer in."""
        with self.lock:
            self.gate.clear()
        deadline = time.monotonic() + within
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.05)

    def resume(self):
        self.gate.set()

    def _client(self, sessions, rng):
        # Each student's own order of the rooms' codes and three single-use codes,
        # which others may be racing for; then single-use codes, mostly used up by then.
        plans = {s.email: rng.sample(ROOMS + rng.sample(self.singles, 3), len(ROOMS) + 3) for s in sessions}
        turn = 0
        while not self.done.is_set():
            for session in sessions:
                if self.done.is_set():
                    return
                plan = plans[session.email]
                text = plan.pop() if plan else rng.choice(self.singles)
                self._ask(session, "POST", "/redeem", text)
                if turn % 2:
                    self._ask(session, "GET", "/profile")
                turn += 1

    def _ask(self, session, method, path, text=None):
        while True:
            self.gate.wait()
            with self.lock:
                if self.gate.is_set():
                    began = self.pending[threading.get_ident()] = time.monotonic()
                    break
        if method == "POST":
            status, body = ask(
                self.port,
                method,
                path,
                session,
                {"csrf_token": session.token, "code": text},
                {"HX-Request": "true"},
            )
            outcome = outcome_of(status, body)
        else:
            status, _ = ask(self.port, method, path, session)
            outcome = None
        with self.lock:
            self.records.append((began, time.monotonic(), method, status, session.email, text, outcome))
            del self.pending[threading.get_ident()]
        time.sleep(self.think)

    def snapshot(self):
        with self.lock:
            return list(self.records), list(self.pending.values())


# --- the faults -------------------------------------------------------------------------


def kill_worker(server):
    """SIGKILL a worker of the server while it answers a request."""
    victim = server.busy_worker() or server.workers()[0]
    now = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    return {"inject": now, "clear": now, "note": "gunicorn starts a new worker by itself"}


def restart_postgres(cluster, seconds):
    now = time.monotonic()
    cluster.stop()
    time.sleep(seconds)
    cluster.start()
    return {
        "inject": now,
        "clear": time.monotonic(),
        "note": f"stopped (fast shutdown), started again {seconds:g} s later",
    }


def lock_holder(device, inode):
    """The process holding a flock() on the file, from /proc/locks (waiters, marked
    '->', are left out)."""
    key = f"{os.major(device):02x}:{os.minor(device):02x}:{inode}"
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[3] == "WRITE" and fields[5] == key:
            return int(fields[4])
    return None


def gone(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def freeze_writer(servers, writers_file, worker_timeout):
    """SIGSTOP the worker holding SQLite's write lock (the flock() on <database>-writers
    that writers queue on, codes/database.py), and wait for gunicorn to end it."""
    stat = os.stat(writers_file)
    deadline = time.monotonic() + 30
    victim = None
    while victim is None and time.monotonic() < deadline:
        workers = {pid for server in servers for pid in server.workers()}
        pid = lock_holder(stat.st_dev, stat.st_ino)
        if pid in workers:
            os.kill(pid, signal.SIGSTOP)
            if lock_holder(stat.st_dev, stat.st_ino) == pid:
                victim = pid
            else:  # it let the lock go before it stopped
                os.kill(pid, signal.SIGCONT)
        time.sleep(0.001)
    if victim is None:
        raise SystemExit("no worker was seen holding the write lock in 30 s")
    now = time.monotonic()
    deadline = now + worker_timeout + 30
    while not gone(victim) and time.monotonic() < deadline:
        time.sleep(0.05)
    note = (
        f"frozen mid-write; gunicorn ended it after {time.monotonic() - now:.1f} s "
        f"(--timeout {worker_timeout})"
    )
    if not gone(victim):
        os.kill(victim, signal.SIGKILL)
        note = "gunicorn did not end it: the bench killed it"
    return {"inject": now, "clear": time.monotonic(), "note": note}


def fill_disk(folder, seconds):
    """Fill the tmpfs the database is on, hold it full, then free it."""
    path = folder / "fill"
    chunk = b"\xff" * (1 << 20)
    now = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    written = 0
    try:
        for _ in range(16 * DISK_MB):  # far more than the disk holds
            try:
                written += os.write(fd, chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    time.sleep(seconds)
    os.unlink(path)
    return {
        "inject": now,
        "clear": time.monotonic(),
        "note": f"{written / (1 << 20):.1f} MB written until ENOSPC, deleted {seconds:g} s later",
    }


# --- one fault under load ---------------------------------------------------------------


def run_fault(title, work, fault, counts, before=3.0, quiet=5.0, longest=45.0):
    """Load before the fault, the fault, then load until every answer has been right
    for `quiet` seconds (at most `longest` after the cause is gone); then the counts."""
    began = time.monotonic()
    time.sleep(before)
    event = fault()
    deadline = event["clear"] + longest
    while time.monotonic() < deadline:
        records, pending = work.snapshot()
        errors = [r[1] for r in records if r[0] >= began and r[3] not in RIGHT]
        settled = max([event["clear"], *errors])
        stuck = [p for p in pending if p < event["clear"]]
        if not stuck and time.monotonic() - settled >= quiet:
            break
        time.sleep(0.2)
    work.hold()
    ended = time.monotonic()
    records, _ = work.snapshot()
    problems, redeemed, summary = counts()
    work.resume()
    return report(
        title, [r for r in records if began <= r[0] < ended], records, event, problems, redeemed, summary
    )


def report(title, phase, everything, event, problems, redeemed, summary):
    """Print what one fault did; returns whether every count was exact."""
    inject = event["inject"]
    label = {NO_ANSWER: "no answer"}
    by_status = Counter(label.get(r[3], r[3]) for r in phase)
    by_kind = Counter(f"{r[2]} {label.get(r[3], r[3])}" for r in phase if r[3] not in RIGHT)
    errors = [r for r in phase if r[3] not in RIGHT]
    slowest = max(phase, key=lambda r: r[1] - r[0])
    print(f"\n{title}")
    print(f"  {event['note']}")
    print(
        f"  answers: {', '.join(f'{k} x {v}' for k, v in sorted(by_status.items(), key=str))}"
        f"   (errors: {', '.join(f'{k} x {v}' for k, v in sorted(by_kind.items())) or 'none'})"
    )
    if errors:
        first = min(r[0] for r in errors) - inject
        last = max(r[1] for r in errors) - inject
        back = max(0.0, max(r[1] for r in errors) - event["clear"])
        print(
            f"  errors from {first:+.1f} s to {last:+.1f} s after the fault; the cause gone at "
            f"{event['clear'] - inject:+.1f} s; every answer right again {back:.1f} s after that"
        )
    else:
        back = 0.0
        print(f"  no error answers; the cause gone at {event['clear'] - inject:+.1f} s")
    # The longest stretch in which no request got a right answer: a stall shows
    # here even when its requests end up answered.
    right = [r[1] for r in phase if r[3] in RIGHT]
    ends = sorted([min(r[0] for r in phase), *right, max(r[1] for r in phase)])
    stall = max(b - a for a, b in zip(ends, ends[1:], strict=False))
    print(
        f"  slowest answer {slowest[1] - slowest[0]:.1f} s ({slowest[2]}, began "
        f"{slowest[0] - inject:+.1f} s); longest stretch without a right answer {stall:.1f} s"
    )
    told = {(r[4], r[5]) for r in everything if r[6] == "joined"}
    failed = {(r[4], r[5]) for r in everything if r[2] == "POST" and r[3] not in RIGHT}
    failed_here = {(r[4], r[5]) for r in phase if r[2] == "POST" and r[3] not in RIGHT}
    missing = told - redeemed
    untold = redeemed - told
    if missing:
        problems.append(f"{len(missing)} joins the students were told of are not in the database")
    if untold - failed:
        problems.append(f"{len(untold - failed)} redemptions nobody asked for, or was told of")
    exact = not problems
    done = Counter(
        label.get(r[3], r[3])
        for r in phase
        if r[2] == "POST" and r[3] not in RIGHT and (r[4], r[5]) in untold
    )
    print(
        f"  counts: {'exact' if exact else 'NOT EXACT: ' + '; '.join(problems)} ({summary}); "
        f"done but answered with an error: {len(untold & failed_here)}"
        f"{' (' + ', '.join(f'{k} x {v}' for k, v in sorted(done.items(), key=str)) + ')' if done else ''}"
    )
    return {
        "title": title,
        "answers": dict(by_status),
        "errors": len(errors),
        "lasted": event["clear"] - inject,
        "stall": stall,
        "recovery": back,
        "exact": exact,
    }


# --- the worlds -------------------------------------------------------------------------


def make_world(url, args, rng):
    """load.prepare's world (students, rooms, single-use codes); returns each
    student's session and the single-use codes' texts."""
    password_hash = generate_password_hash(load.PASSWORD, method="pbkdf2:sha256:1000")
    plan, _ = load.prepare(url, args.students, args.seat_limit, password_hash, rng)
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": load.SECRET_KEY, "PUBLIC_URL": load.PUBLIC_URL}
    )
    with app.app_context():
        singles = db.session.scalars(
            select(Code.text)
            .join(Organization)
            .where(Organization.name == load.BENCH_ORG, Code.max_uses == 1)
        ).all()
        db.session.remove()
        db.engine.dispose()
    sessions = [load.Session(email, f"10.{i // 250}.{i % 250}.1") for i, (email, _, _) in enumerate(plan)]
    return sessions, singles


def servers_and_proxy(tmp, url, args, prefix=()):
    # PROXY_HOPS=2: each student's address in X-Forwarded-For, as from a load
    # balancer in front, and nginx's after it.
    servers = [
        Gunicorn(
            tmp,
            url,
            workers=2,
            args=("--timeout", str(args.worker_timeout)),
            wait=False,
            prefix=prefix,
            PROXY_HOPS=2,
        )
        for _ in range(2)
    ]
    try:
        for server in servers:
            server.wait_ready()
        return servers, Nginx(tmp, servers)
    except BaseException:
        for server in servers:
            server.stop()
        raise


class Postgres:
    """A throwaway PostgreSQL cluster on a free loopback port, in a folder of its own;
    run as the postgres user when the bench runs as root (initdb refuses root)."""

    def __init__(self, bin_dir):
        self.bin = Path(bin_dir)
        self.dir = Path(tempfile.mkdtemp(prefix="codes-chaos-pg-"))
        self.data = self.dir / "data"
        self.port = load.free_port()
        self.user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.user:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres", "chaos_bench")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/chaos_bench"

    def _run(self, tool, *args):
        subprocess.run(
            [*self.user, str(self.bin / tool), *map(str, args)],
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self):
        # Durability is not what is measured: no fsync, to spare the shared disk.
        self._run(
            "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.dir / "server.log",
            "-w",
            "-t",
            "60",
            "start",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c max_connections=200 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
        )

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def remove(self):
        try:
            self.stop("immediate")
        except subprocess.SubprocessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def postgres_faults(tmp, args):
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        print("\nPostgreSQL faults not run: no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)")
        return []
    cluster = Postgres(found[-1].parent)
    results = []
    try:
        print(
            f"\nPostgreSQL {found[-1].parts[-3]} (throwaway cluster on port {cluster.port}): "
            f"{args.students} students, {args.clients} clients"
        )
        sessions, singles = make_world(cluster.url, args, random.Random(args.seed))
        servers, proxy = servers_and_proxy(tmp, cluster.url, args)
        try:
            log_in(proxy.port, sessions, args.clients)
            work = Load(proxy.port, sessions, singles, args.clients, args.think, args.seed)
            work.start()
            try:

                def counts():
                    return load.exact_counts(cluster.url)

                results.append(
                    run_fault(
                        "1. A worker of app server 1 killed (SIGKILL) mid-request",
                        work,
                        lambda: kill_worker(servers[0]),
                        counts,
                    )
                )
                results.append(
                    run_fault(
                        f"2. PostgreSQL down for {args.down:g} s",
                        work,
                        lambda: restart_postgres(cluster, args.down),
                        counts,
                    )
                )
            finally:
                work.stop()
        finally:
            proxy.stop()
            for server in servers:
                server.stop()
    finally:
        cluster.remove()
    return results


class PrivateDisk:
    """A tmpfs of DISK_MB mounted on `folder` in a user and mount namespace of the
    bench's own (no root needed): only processes started in it (through `prefix`)
    see it; the bench reaches it through /proc/<pid>/root. SQLite must never open
    the database by that path (it resolves the link to / and would open another
    file), so copies in and out go through plain files and SQLite's backup run
    inside."""

    def __init__(self, folder):
        self.folder = folder
        folder.mkdir()
        self.holder = subprocess.Popen(
            [
                "unshare",
                "-Urm",
                "sh",
                "-c",
                f'mount -t tmpfs -o size={DISK_MB}m,mode=0700 tmpfs "$1" '
                "&& echo mounted && exec cat >/dev/null",
                "sh",
                str(folder),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.holder.stdout.readline()  # "mounted", or nothing when unshare fails
        if line.strip() != "mounted":
            self.holder.wait(timeout=10)
            raise OSError(self.holder.stderr.read().strip() or "unshare -Urm failed")
        # Entering a mount namespace moves to its root folder: back to the app's.
        self.prefix = [
            "nsenter",
            "--preserve-credentials",
            "-U",
            "-m",
            "-t",
            str(self.holder.pid),
            f"--wd={ROOT}",
        ]
        self.seen = Path(f"/proc/{self.holder.pid}/root{folder}")

    def backup(self, inside, outside):
        code = (
            "import sqlite3, sys; source = sqlite3.connect(sys.argv[1]); "
            "copy = sqlite3.connect(sys.argv[2]); source.backup(copy); copy.close(); source.close()"
        )
        subprocess.run(
            [*self.prefix, sys.executable, "-c", code, str(inside), str(outside)], check=True, timeout=120
        )

    def close(self):
        self.holder.stdin.close()  # cat ends, and the namespace with the last process in it
        self.holder.wait(timeout=10)


def sqlite_faults(tmp, args):
    results = []
    prepared = tmp / "prepared.db"
    sessions, singles = make_world(f"sqlite:///{prepared}", args, random.Random(args.seed + 1))
    try:
        disk = PrivateDisk(tmp / "disk")
    except OSError as error:
        print(f"\nFull disk not run: no private tmpfs ({error}); the frozen writer runs on {tmp}")
        disk = None
    try:
        folder = disk.folder if disk else tmp
        seen = disk.seen if disk else tmp
        for suffix in ("", "-wal"):
            if Path(f"{prepared}{suffix}").exists() and disk:
                shutil.copyfile(f"{prepared}{suffix}", seen / f"bench.db{suffix}")
        database = folder / "bench.db" if disk else prepared
        url = f"sqlite:///{database}"
        print(
            f"\nSQLite ({'on a ' + str(DISK_MB) + ' MB private tmpfs' if disk else 'on ' + str(tmp)}): "
            f"{args.students} students, {args.clients} clients"
        )
        servers, proxy = servers_and_proxy(tmp, url, args, prefix=disk.prefix if disk else ())
        try:
            log_in(proxy.port, sessions, args.clients)
            work = Load(proxy.port, sessions, singles, args.clients, args.think, args.seed + 1)
            work.start()
            taken = [0]

            def counts():
                if not disk:
                    return load.exact_counts(url)
                taken[0] += 1
                copy = tmp / f"snapshot-{taken[0]}.db"
                disk.backup(database, copy)
                return load.exact_counts(f"sqlite:///{copy}")

            try:
                writers = seen / "bench.db-writers" if disk else Path(f"{prepared}-writers")
                results.append(
                    run_fault(
                        "3. SQLite: the worker holding the write lock frozen (SIGSTOP)",
                        work,
                        lambda: freeze_writer(servers, writers, args.worker_timeout),
                        counts,
                        longest=args.worker_timeout + 30,
                    )
                )
                if disk:
                    results.append(
                        run_fault(
                            f"4. SQLite: the disk full for {args.down:g} s",
                            work,
                            lambda: fill_disk(seen, args.down),
                            counts,
                        )
                    )
            finally:
                work.stop()
        finally:
            proxy.stop()
            for server in servers:
                server.stop()
    finally:
        if disk:
            disk.close()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--think", type=float, default=0.05, help="seconds each client pauses between requests"
    )
    parser.add_argument("--seat-limit", type=int, default=1000)
    parser.add_argument("--worker-timeout", type=int, default=60, help="gunicorn's --timeout")
    parser.add_argument(
        "--down", type=float, default=5.0, help="seconds PostgreSQL stays stopped, and the disk full"
    )
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args()
    if not nginx_path():
        raise SystemExit("nginx is not installed (apt-get install nginx): the faults run behind it")
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; nginx in front of two gunicorn "
        f"servers of 2 workers (--timeout {args.worker_timeout})"
    )
    with tempfile.TemporaryDirectory(prefix="codes-chaos-") as tmp:
        results = postgres_faults(Path(tmp), args) + sqlite_faults(Path(tmp), args)
    print("\n| fault | answers | cause lasted | no right answer for | right again after the cause | counts |")
    print("|---|---|---:|---:|---:|---|")
    for r in results:
        answers = ", ".join(f"{k} x {v}" for k, v in sorted(r["answers"].items(), key=str))
        print(
            f"| {r['title']} | {answers} | {r['lasted']:.1f} s | {r['stall']:.1f} s | "
            f"{r['recovery']:.1f} s | {'exact' if r['exact'] else 'NOT EXACT'} |"
        )
    sys.exit(0 if all(r["exact"] for r in results) else 1)


if __name__ == "__main__":
    main()
