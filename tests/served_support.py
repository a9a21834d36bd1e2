"""The app as it is deployed: gunicorn in a subprocess on loopback, configured by its
environment (docs/DEPLOY.md), nginx in front of it with the repository's configuration
(deploy/nginx.conf.template), and visitors that talk HTTP to them with their own
cookies, as browsers do."""

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
SECRET_KEY = "served-test-secret"
CSRF_INPUT = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'type="hidden" name="csrf_token" value="([^"]+)"'
)


def free_port():
    """A loopback port free now, for a server that binds it itself (nginx, a
    PostgreSQL cluster): another may take it before that, a small chance."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_socket():
    """A socket listening on a loopback port the system chose."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class Gunicorn:
    """`gunicorn -w N wsgi:app` on a free loopback port. The access log records the
    process id of the worker that answered each request.

    The port is bound here and the socket handed to gunicorn (`-b fd://N`): a port
    found free, let go and bound again by gunicorn could be taken meanwhile by
    another test worker's server, or by a connection's own end."""

    def __init__(self, tmp_path, database_url, workers=2, args=(), wait=True, prefix=(), **settings):
        """args: more gunicorn options; prefix: a command gunicorn runs under (such
        as nsenter), which hands it the socket too. wait=False returns at once;
        call wait_ready() before using it (to start several servers side by side)."""
        sock = listening_socket()
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"gunicorn-{self.port}.log"
        self.access = tmp_path / f"access-{self.port}.log"
        env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "PUBLIC_URL": self.url}
        env.pop("RATELIMIT_STORAGE_URI", None)
        env.update({k: str(v) for k, v in settings.items()})
        with sock:
            self.process = subprocess.Popen(
                [
                    *prefix,
                    GUNICORN,
                    "-w",
                    str(workers),
                    "-b",
                    f"fd://{sock.fileno()}",
                    "--access-logfile",
                    str(self.access),
                    "--access-logformat",
                    "%(p)s %(m)s %(U)s %(s)s",
                    "--error-logfile",
                    str(self.log),
                    *args,
                    "wsgi:app",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=[sock.fileno()],
            )
        if wait:
            self.wait_ready()

    def wait_ready(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        # Not left running for a later test to find (its Popen warns when collected).
        self.process.kill()
        self.process.wait()
        raise RuntimeError(f"gunicorn did not answer in 60 s:\n{self.log.read_text()}")

    def workers_for(self, method, path):
        """The process ids of the workers that answered method path."""
        lines = self.access.read_text().splitlines() if self.access.exists() else []
        # Some gunicorn versions write the id as <1234>.
        return {line.split()[0].strip("<>") for line in lines if line.split()[1:3] == [method, path]}

    def workers(self):
        """The process ids of the workers running now."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def busy_worker(self, within=5.0):
        """A worker holding a connection it accepted (a request in flight), found
        within `within` seconds, or None."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            accepted = accepted_sockets(self.port)
            for pid in self.workers():
                if accepted & socket_inodes(pid):
                    return pid
            time.sleep(0.002)
        return None

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def accepted_sockets(port):
    """Inodes of the established TCP connections to 127.0.0.1:port (/proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "01" and int(local.split(":")[1], 16) == port:
            inodes.add(inode)
    return inodes


def socket_inodes(pid):
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:  # the process ended meanwhile
        pass
    return inodes


def nginx_path():
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    return path if os.path.exists(path) else None


def render_nginx(servers, listen, server_name, template=NGINX_TEMPLATE):
    """The deployed configuration, its @NAME@ placeholders filled in."""
    text = template.read_text()
    values = {
        "LISTEN": listen,
        "SERVER_NAME": server_name,
        **{f"APP_SERVER_{n}": server for n, server in enumerate(servers, 1)},
    }
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z0-9_]+@", text)
    if left:
        raise ValueError(f"placeholders left in {template.name}: {left}")
    return text


class Nginx:
    """nginx in the foreground, a child of the test, on a free loopback port, in front
    of the given gunicorn servers with deploy/nginx.conf.template. Only what a
    machine's own nginx.conf would hold is written here: the pid file, logs and
    temporary files in tmp_path, and an access log that names the servers each
    request was passed to ($upstream_addr: "a, b" when it went to a second one)."""

    def __init__(self, tmp_path, servers, template=NGINX_TEMPLATE):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = tmp_path / f"nginx-{self.port}"
        self.root.mkdir()
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.root / name).mkdir()
        self.access = self.root / "access.log"
        self.errors = self.root / "error.log"
        (self.root / "codes.conf").write_text(
            render_nginx(
                [f"127.0.0.1:{server.port}" for server in servers],
                f"127.0.0.1:{self.port}",
                "127.0.0.1",
                template,
            )
        )
        # Run as root, nginx would hand its workers to "nobody", who cannot
        # enter tmp_path.
        user = "user root;" if os.geteuid() == 0 else ""
        (self.root / "nginx.conf").write_text(f"""
daemon off;
{user}
worker_processes 1;
pid {self.root}/nginx.pid;
error_log {self.errors} notice;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '$request_method $request_uri $status "$upstream_addr" "$upstream_status"';
    access_log {self.access} upstreams;
    client_body_temp_path {self.root}/body;
    proxy_temp_path {self.root}/proxy;
    fastcgi_temp_path {self.root}/fastcgi;
    uwsgi_temp_path {self.root}/uwsgi;
    scgi_temp_path {self.root}/scgi;
    include {self.root}/codes.conf;
}}
""")
        self.process = subprocess.Popen(
            [nginx_path(), "-p", str(self.root), "-e", str(self.errors), "-c", str(self.root / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.errors.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen in 15 s:\n{self.errors.read_text()}")

    def log(self):
        """(method, path, status, servers tried) of each request, in order."""
        rows = []
        for line in self.access.read_text().splitlines():
            method, path, status, upstreams = line.split(" ", 3)
            tried = upstreams.split('" "')[0].strip('"')
            rows.append((method, path, int(status), [u.strip() for u in tried.split(",") if u.strip()]))
        return rows

    def stop(self):
        self.process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Visitor:
    """One person's browser: cookies, the CSRF token of the last page, and an
    address (sent as X-Forwarded-For for a server behind PROXY_HOPS=1)."""

    def __init__(self, base_url, address=None):
        self.base_url = base_url
        self.address = address
        self.token = None
        self.headers = None  # of the last answer
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
        )

    def request(self, method, path, data=None, headers=None):
        """(status, body) of one request; redirects are not followed."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base_url + path, data=body, method=method)
        if self.address:
            req.add_header("X-Forwarded-For", self.address)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with self.opener.open(req, timeout=60) as response:
                status, text, self.headers = response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as error:
            status, text, self.headers = error.code, error.read().decode(), error.headers
        found = CSRF_INPUT.search(text)
        if found:
            self.token = found.group(1) or found.group(2)
        return status, text

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, data, **kwargs):
        return self.request("POST", path, {"csrf_token": self.token, **data}, **kwargs)

    def login(self, email, password):
        self.get("/login")
        status, text = self.post("/login", {"email": email, "password": password})
        assert status == 303, text[:500]
        self.get("/profile")

    def redeem(self, text):
        return self.post("/redeem", {"code": text})


class WorkerHold:
    """Keeps one sync worker busy with a request whose headers are not finished,
    so the next connection goes to another worker."""

    def __init__(self, server):
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        self.sock.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.2)  # time for a worker to accept it

    def release(self):
        self.sock.sendall(b"\r\n")
        while self.sock.recv(65536):
            pass
        self.sock.close()


def on_alternate_workers(server, actions):
    """Run actions one after another, each answered by a different worker of a
    two-worker server than the one before: one worker is held while the other
    answers, then the roles swap."""
    hold = WorkerHold(server)
    results = []
    try:
        for action in actions:
            results.append(action())
            next_hold = WorkerHold(server)  # the worker that just answered: the only free one
            hold.release()
            hold = next_hold
    finally:
        hold.release()
    return results
