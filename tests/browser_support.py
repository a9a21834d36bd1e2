"""Browser tests: the app served on loopback by a real server thread, driven in
Debian's Chromium through Playwright (never a browser Playwright downloads).

Use the fixtures `live_server` (an object with .url, .app, .run(fn) to run code in the
app context and .stop()) and `page` (a fresh Playwright page); `closing_live_server`
for a server to stop while the browser looks at its page. Screenshots go to
tests/artifacts/."""

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from codes.extensions import db
from conftest import build_app, need_service

ARTIFACTS = Path(__file__).parent / "artifacts"
# How long a page, a selector or a click may take before the test fails. Generous:
# on the shared two-core machine, with the suite's other worker and its Chromium
# beside it, a page that loads in a second once took more than ten.
TIMEOUT_MS = 30_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path():
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if os.path.exists(path) else None


class ClosingHandler(WSGIRequestHandler):
    """HTTP/1.0: each connection closes after its answer, so a server stopped
    with stop() answers nothing more, not even on a connection the browser
    kept open."""

    protocol_version = "HTTP/1.0"


class LiveServer:
    def __init__(self, app, keep_alive=True):
        self.app = app
        self.server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=None if keep_alive else ClosingHandler
        )
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # The address the browser opens, known once the port is: links the app
        # hands out name it, and its host is trusted (the port is not checked), as is
        # the test client's, for tests that also ask the app directly.
        app.config.update(PUBLIC_URL=self.url, TRUSTED_HOSTS=["127.0.0.1", "localhost"])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def stop(self):
        """Down: no more answers, and connections refused."""
        self.server.shutdown()
        self.server.server_close()

    def run(self, fn, *args, **kwargs):
        """Run fn in the app context with its own session, committing after it."""
        with self.app.app_context():
            try:
                result = fn(*args, **kwargs)
                db.session.commit()
                return result
            finally:
                db.session.remove()


def _serve(tmp_path, keep_alive):
    app = build_app(f"sqlite:///{tmp_path / 'browser.db'}")
    server = LiveServer(app, keep_alive=keep_alive)
    server.thread.start()
    yield server
    server.server.shutdown()  # returns at once when stop() stopped it already
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def live_server(tmp_path):
    yield from _serve(tmp_path, keep_alive=True)


@pytest.fixture
def closing_live_server(tmp_path):
    """A live server that closes every connection after its answer, for a test
    that stops it and expects the browser to find it down."""
    yield from _serve(tmp_path, keep_alive=False)


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    need_service(path, "Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, server, email, password):
    page.goto(server.url + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("form button")
    page.wait_for_load_state("networkidle")


def eventually(page, check, seconds=5.0):
    """Whether check() comes true within `seconds`, asked again every 40 ms: for
    what the page does a moment after an answer or a swap (moving the focus,
    filling a live region, loading an image). Polled from here, not with
    Playwright's wait_for_function: the page's CSP (no 'unsafe-eval') refuses
    the eval it polls with once its first try fails, so under load it failed."""
    for _ in range(max(1, int(seconds * 25))):
        if check():
            return True
        page.wait_for_timeout(40)
    return bool(check())
