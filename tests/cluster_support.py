"""A PostgreSQL server of a test's own, which the test may stop and start again as
an operator would (`pg_ctl restart -m fast`, an immediate stop): a fresh cluster
(initdb) on a free loopback port, with fsync off, removed afterwards. Never the
shared test server, which other tests use meanwhile."""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import need_service
from served_support import free_port


def _bin_dir():
    """The newest installed PostgreSQL's programs (Debian keeps them off PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """`initdb`, then `pg_ctl start`; stop(mode) and start() as often as the test likes."""

    def __init__(self):
        self.bin = _bin_dir()
        need_service(
            self.bin is not None and (self.bin / "pg_ctl").exists(),
            "no PostgreSQL programs (initdb, pg_ctl) installed",
        )
        # initdb refuses to run as root: the cluster then belongs to the postgres
        # user, who cannot reach pytest's folders (0700, root's), so it lives in
        # a folder of its own under /tmp, removed in destroy().
        self.owner = None
        if os.geteuid() == 0:
            try:
                self.owner = pwd.getpwnam("postgres")
            except KeyError:
                need_service(False, "running as root, and there is no postgres user to own a cluster")
        self.folder = Path(tempfile.mkdtemp(prefix="codes-pg-"))
        if self.owner:
            os.chown(self.folder, self.owner.pw_uid, self.owner.pw_gid)
        self.data = self.folder / "data"
        self.port = free_port()
        self.log = self.folder / "server.log"
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

    def _command(self, tool, *args):
        command = [str(self.bin / tool), *map(str, args)]
        return ["runuser", "-u", self.owner.pw_name, "--", *command] if self.owner else command

    def _run(self, tool, *args):
        done = subprocess.run(
            self._command(tool, *args),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"{tool} failed: {done.stderr}\n{self.log_text()}")

    def _options(self):
        return (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} "
            "-c fsync=off -c full_page_writes=off -c max_connections=50"
        )

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start", "-o", self._options())

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode="fast"):
        self._run(
            "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.log,
            "-m",
            mode,
            "-w",
            "-t",
            "60",
            "restart",
            "-o",
            self._options(),
        )

    def url(self, database="postgres", user="postgres"):
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement, database="postgres"):
        """Run one statement as the superuser, through psql."""
        self._run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            self.port,
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            statement,
        )

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def destroy(self):
        subprocess.run(
            self._command("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(self.folder, ignore_errors=True)
