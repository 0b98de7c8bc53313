"""A Redis cache whose outages degrade to cache misses instead of failing requests.

Everything ValueFlow keeps in the cache can be recomputed or skipped: the sampler's id bounds, the annotator table,
the refit-request throttle, the login failure counts. When Redis is down (a restart, a network blip) a request
should lose those conveniences, not fail: PostgreSQL is the system of record, and an annotator's answer must be
stored whether or not Redis answers. Reads then miss, writes are dropped, and one warning per interval says so.
"""

import logging
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("valueflow.cache")

OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)
# One warning per process per this many seconds while Redis is unreachable.
_WARN_EVERY_S = 10.0


class _ReusedClients(RedisCacheClient):
    """Django's Redis cache client, keeping one redis.Redis per connection pool instead of building one for every
    operation (0.16 ms of CPU each here, twice what a get itself costs; the session read, the sampler's cached
    bounds and the refit throttle make several per judgment). redis.Redis is thread-safe: each command takes a
    connection from the pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's private helpers (django-stubs declares only the public API)
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(index)  # type: ignore[attr-defined]
            client = self._clients.setdefault(index, self._client(connection_pool=pool))  # type: ignore[attr-defined]
        return client


class ResilientRedisCache(RedisCache):
    """Django's Redis cache; an unreachable Redis reads as a miss and makes writes no-ops (module docstring)."""

    _last_warning = 0.0

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusedClients

    def _outage(self, operation: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - ResilientRedisCache._last_warning >= _WARN_EVERY_S:
            ResilientRedisCache._last_warning = now
            logger.warning("cache %s failed, Redis unreachable (%s); going on without the cache", operation, exc)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except OUTAGE_ERRORS as exc:
            self._outage("get", exc)
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except OUTAGE_ERRORS as exc:
            self._outage("get_many", exc)
            return {}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except OUTAGE_ERRORS as exc:
            self._outage("has_key", exc)
            return False

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:  # type: ignore[override]
        try:
            super().set(key, value, timeout, version)
        except OUTAGE_ERRORS as exc:
            self._outage("set", exc)

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:  # type: ignore[override]
        try:
            return super().set_many(data, timeout, version)
        except OUTAGE_ERRORS as exc:
            self._outage("set_many", exc)
            return list(data)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:  # type: ignore[override]
        """False when Redis is unreachable: callers use add() as "do this at most once per interval" (the refit
        request throttle), and skipping the optional work is the safe side; periodic tasks cover it."""
        try:
            return super().add(key, value, timeout, version)
        except OUTAGE_ERRORS as exc:
            self._outage("add", exc)
            return False

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:  # type: ignore[override]
        try:
            return super().touch(key, timeout, version)
        except OUTAGE_ERRORS as exc:
            self._outage("touch", exc)
            return False

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except OUTAGE_ERRORS as exc:
            self._outage("delete", exc)
            return False

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        try:
            super().delete_many(keys, version)
        except OUTAGE_ERRORS as exc:
            self._outage("delete_many", exc)


def cache_settings(redis_url: str) -> dict[str, Any]:
    """The CACHES entry for a Redis URL: short socket timeouts, so an unreachable Redis costs a request at most about
    a second, never the default wait of the operating system."""
    return {
        "BACKEND": "common.cache.ResilientRedisCache",
        "LOCATION": redis_url,
        "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
    }
