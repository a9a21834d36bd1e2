"""Where failed redemption attempts are counted, so the limits hold across every
worker of every app server (DESIGN.md "Redeeming"; docs/DEPLOY.md).

Without RATELIMIT_STORAGE_URI they are counted from the audit trail in the app's
database. With a redis:// URL they are counted in Redis: one key per account and
one per address, never one shared key, so a few typos in a classroom behind one
address never lock out the account next to them.
"""
from datetime import timedelta

import redis
from flask import current_app

from .operations import AUDIT_TRAIL

EXTENSION = "codes.attempt_counter"
PREFIX = "codes:redeem-failures"


class RedisCounter:
    """Failed attempts counted in Redis with INCR under a key that expires one
    window after the first failure. While Redis cannot be reached, the audit
    trail (which records every attempt anyway) is counted instead, so an outage
    neither stops redemptions nor lifts the limit."""

    def __init__(self, url):
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    @staticmethod
    def _keys(user, ip, limits):
        # No user: an account being made by sign-up, counted per address only.
        keys = [] if user is None else [(f"{PREFIX}:account:{user.id}", limits.per_account)]
        if ip:
            keys.append((f"{PREFIX}:address:{ip}", limits.per_address))
        return keys

    def wait(self, user, ip, limits, now):
        keys = self._keys(user, ip, limits)
        pipe = self.redis.pipeline(transaction=False)
        for key, _ in keys:
            pipe.get(key)
            pipe.pttl(key)
        try:
            answers = pipe.execute()
        except redis.RedisError as error:
            current_app.logger.warning("Redis unreachable, counting attempts in the database: %s", error)
            return AUDIT_TRAIL.wait(user, ip, limits, now)
        waits = []
        for (_, limit), count, ttl_ms in zip(keys, answers[::2], answers[1::2], strict=True):
            if count is not None and int(count) >= limit and ttl_ms != -2:
                # -1: no expiry (never set by us); wait a whole window rather than forever.
                waits.append(timedelta(milliseconds=ttl_ms) if ttl_ms > 0 else limits.window)
        return max(waits) if waits else None

    def count_failure(self, user, ip, limits):
        seconds = max(1, int(limits.window.total_seconds()))
        pipe = self.redis.pipeline(transaction=True)
        for key, _ in self._keys(user, ip, limits):
            # SET NX starts the window at the first failure; INCR keeps the expiry.
            pipe.set(key, 0, ex=seconds, nx=True)
            pipe.incr(key)
        try:
            pipe.execute()
        except redis.RedisError as error:
            current_app.logger.warning("Redis unreachable, attempt counted in the database only: %s",
                                       error)


def counter_for(uri):
    """The store a RATELIMIT_STORAGE_URI names; empty means the database."""
    if not uri:
        return AUDIT_TRAIL
    if uri.partition("://")[0] in ("redis", "rediss", "unix"):
        return RedisCounter(uri)
    raise ValueError(
        f"RATELIMIT_STORAGE_URI={uri!r}: name a Redis server (redis://host:6379/0), or leave it "
        f"empty to count attempts in the database. A per-process store such as memory:// would "
        f"give each server worker its own count."
    )


def init_app(app):
    app.extensions[EXTENSION] = counter_for(app.config["RATELIMIT_STORAGE_URI"])


def current_counter():
    return current_app.extensions[EXTENSION]
