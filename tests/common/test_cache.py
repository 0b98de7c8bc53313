"""The cache backend turns a Redis outage into cache misses: reads return the default, writes are dropped, add()
reports False — requests go on without the cache, with a warning in the log."""

import logging

from common.cache import ResilientRedisCache


def unreachable_cache() -> ResilientRedisCache:
    # Port 1 on loopback: nothing listens, connections are refused at once.
    return ResilientRedisCache(
        "redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
    )


def test_an_unreachable_redis_reads_as_misses_and_writes_as_no_ops(caplog):
    cache = unreachable_cache()
    ResilientRedisCache._last_warning = 0.0
    with caplog.at_level(logging.WARNING, logger="valueflow.cache"):
        assert cache.get("bounds", default="fallback") == "fallback"
        cache.set("bounds", (1, 2))
        assert cache.add("refit-requested", 1) is False
        assert cache.get_many(["a", "b"]) == {}
        assert cache.delete("bounds") is False
        assert cache.has_key("bounds") is False
    assert "Redis unreachable" in caplog.text


def test_a_reachable_redis_behaves_as_djangos_cache(settings):
    cache = ResilientRedisCache(settings.REDIS_URL, {})
    cache.delete("valueflow:test-resilient")
    assert cache.add("valueflow:test-resilient", 1, timeout=5) is True
    assert cache.add("valueflow:test-resilient", 2, timeout=5) is False
    assert cache.get("valueflow:test-resilient") == 1
    cache.delete("valueflow:test-resilient")
