"""The app as it is deployed: gunicorn in a subprocess on loopback, configured by its
environment (docs/DEPLOY.md), and visitors that talk HTTP to it with their own
cookies, as browsers do."""
import http.cookiejar
import os
import re
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
SECRET_KEY = "served-test-secret"
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                        r'type="hidden" name="csrf_token" value="([^"]+)"')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """`gunicorn -w N wsgi:app` on a free loopback port. The access log records the
    process id of the worker that answered each request."""

    def __init__(self, tmp_path, database_url, workers=2, **settings):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"gunicorn-{self.port}.log"
        self.access = tmp_path / f"access-{self.port}.log"
        env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY}
        env.pop("RATELIMIT_STORAGE_URI", None)
        env.update({k: str(v) for k, v in settings.items()})
        self.process = subprocess.Popen(
            [GUNICORN, "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
             "--access-logfile", str(self.access), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s",
             "--error-logfile", str(self.log), "wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer in 30 s:\n{self.log.read_text()}")

    def workers_for(self, method, path):
        """The process ids of the workers that answered method path."""
        lines = self.access.read_text().splitlines() if self.access.exists() else []
        return {line.split()[0] for line in lines if line.split()[1:3] == [method, path]}

    def stop(self):
        self.process.terminate()
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
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect())

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
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
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
