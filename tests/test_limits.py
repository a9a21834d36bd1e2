"""Guessing limits through the code box: per account and, apart, per address, with
the wait in plain words; counted in the database by default or in Redis when
RATELIMIT_STORAGE_URI names one; settings read from the server's environment."""
import os
import socket

import pytest
from flask import request
from sqlalchemy import func, select

from codes import create_app
from codes.extensions import db
from codes.models import AuditEvent, Redemption
from codes.redeem import limits
from codes.redeem.operations import AUDIT_TRAIL
from conftest import Factory, build_app, need_service, soup

WAIT = "Too many codes that didn't work. Wait 15 minutes, then try again."
LIMITS = {"REDEEM_FAILURES_PER_ACCOUNT": 3, "REDEEM_FAILURES_PER_ADDRESS": 5}


def redis_url():
    url = os.environ.get("TEST_REDIS_URL", "")
    need_service(url.startswith("redis://"), "TEST_REDIS_URL names no Redis server")
    return url


def fresh_redis(url):
    """An empty Redis database: account ids restart with every test database."""
    import redis

    server = redis.Redis.from_url(url)
    server.flushdb()
    return server


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["database", "redis", "redis-down"])
def store_app(request, tmp_path):
    """The same app counting attempts in the database, in Redis, and with a Redis
    that cannot be reached (the database takes over)."""
    uri = ""
    if request.param == "redis":
        uri = redis_url()
        fresh_redis(uri)
    elif request.param == "redis-down":
        uri = f"redis://127.0.0.1:{closed_port()}/0"
    app = build_app(f"sqlite:///{tmp_path / 'test.db'}", RATELIMIT_STORAGE_URI=uri, **LIMITS)
    with app.app_context():
        yield app
        db.session.remove()


def redeem_from(client, text, ip):
    return client.post("/redeem", data={"code": text}, environ_base={"REMOTE_ADDR": ip})


def message(response):
    node = soup(response).find(id="code-error")
    return node.get_text(strip=True) if node else None


def test_limits_per_account_then_per_address_then_others_still_get_in(store_app):
    make = Factory()
    org = make.org()
    make.code(org, "REAL-CODE-2027", classrooms=[make.classroom(org)])

    def client_for(user):
        # Log in just before use: requests share the test's app context, where
        # Flask-Login keeps the last user it loaded.
        client = store_app.test_client()
        client.login(user)
        return client

    guesser = client_for(make.user("Gus"))
    for i in range(3):
        assert message(redeem_from(guesser, f"GUESS-{i}", "10.0.0.1")).startswith("We don't recognize")
    # The account must wait, whatever the address and even with the right code.
    for ip in ("10.0.0.1", "10.0.0.9"):
        response = redeem_from(guesser, "REAL-CODE-2027", ip)
        assert response.status_code == 422 and message(response) == WAIT
    # Two more failures from other accounts on 10.0.0.1 reach the address's limit of 5...
    for i in range(2):
        redeem_from(client_for(make.user()), f"OTHER-{i}", "10.0.0.1")
    fay = make.user("Fay")
    fresh = client_for(fay)
    response = redeem_from(fresh, "REAL-CODE-2027", "10.0.0.1")
    assert message(response) == WAIT, "an account with no failure of its own waits on that address"
    # ...and with htmx the same words come back in place.
    response = fresh.post("/redeem", data={"code": "REAL-CODE-2027"}, headers={"HX-Request": "true"},
                          environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert response.status_code == 200 and message(response) == WAIT
    # Another account on another address is held back by neither.
    assert redeem_from(client_for(make.user()), "REAL-CODE-2027", "10.0.0.2").status_code == 303
    assert redeem_from(client_for(fay), "REAL-CODE-2027", "10.0.0.3").status_code == 303
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 2
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("redeem.%"))).all()
    assert actions.count("redeem.limited") == 4 and actions.count("redeem.unknown") == 5


def test_redis_keeps_one_count_per_account_and_per_address_for_the_window(tmp_path):
    url = redis_url()
    server = fresh_redis(url)
    app = build_app(f"sqlite:///{tmp_path / 'redis.db'}", RATELIMIT_STORAGE_URI=url, **LIMITS)
    with app.app_context():
        make = Factory()
        org = make.org()
        make.code(org, "REAL-CODE-2027", classrooms=[make.classroom(org)])
        user = make.user()
        client = app.test_client()
        client.login(user)
        redeem_from(client, "NOT-IT", "10.4.4.4")
        redeem_from(client, "NOT-IT-EITHER", "10.4.4.4")
        redeem_from(client, "REAL-CODE-2027", "10.4.4.4")  # a success is not a failure
        account = f"{limits.PREFIX}:account:{user.id}"
        address = f"{limits.PREFIX}:address:10.4.4.4"
        assert sorted(k.decode() for k in server.keys("*")) == sorted([account, address])
        assert int(server.get(account)) == 2 and int(server.get(address)) == 2
        assert 15 * 60 - 5 < server.ttl(account) <= 15 * 60
        db.session.remove()


def test_the_store_is_chosen_by_the_setting():
    assert limits.counter_for("") is AUDIT_TRAIL
    assert isinstance(limits.counter_for("redis://127.0.0.1:6379/0"), limits.RedisCounter)
    with pytest.raises(ValueError, match="each server worker its own count"):
        limits.counter_for("memory://")


def test_servers_are_configured_by_their_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6399/2")
    monkeypatch.setenv("REDEEM_FAILURES_PER_ACCOUNT", "4")
    monkeypatch.setenv("REDEEM_FAILURES_PER_ADDRESS", "40")
    monkeypatch.setenv("REDEEM_FAILURE_WINDOW_MINUTES", "7")
    monkeypatch.setenv("PROXY_HOPS", "1")
    monkeypatch.setenv("HTTPS", "1")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("env.db")
    assert (app.config["REDEEM_FAILURES_PER_ACCOUNT"], app.config["REDEEM_FAILURES_PER_ADDRESS"],
            app.config["REDEEM_FAILURE_WINDOW_MINUTES"], app.config["PROXY_HOPS"]) == (4, 40, 7, 1)
    assert isinstance(app.extensions[limits.EXTENSION], limits.RedisCounter)
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["PREFERRED_URL_SCHEME"] == "https"
    # Behind one proxy, the address the proxy saw is the one counted.
    seen = {}
    app.add_url_rule("/whoami", "whoami", lambda: seen.setdefault("ip", request.remote_addr))
    app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.7"})
    assert seen["ip"] == "203.0.113.7"
