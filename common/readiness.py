"""Readiness: can this process serve requests now? It needs PostgreSQL, the cache (Redis) and the Celery broker.

`/health/` says the process is alive; `/ready/` (this module) asks each dependency with a short timeout, so a load
balancer stops sending traffic to an instance that cannot reach them, and an operator reads which one failed.
"""

from collections.abc import Callable

from django.conf import settings
from django.db import connection

CHECK_TIMEOUT_S = 2.0


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _cache() -> str:
    # Asked directly, not through Django's cache: ValueFlow's cache backend hides outages (common/cache.py).
    if not settings.REDIS_URL:
        return "ok (local memory)"
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _broker() -> str:
    from celery import current_app

    with current_app.connection_for_write(connect_timeout=CHECK_TIMEOUT_S) as broker:
        # kombu takes the timeout in seconds, a float as well (its stubs say int)
        broker.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT_S  # type: ignore[arg-type]
        )
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {"database": _database, "cache": _cache, "broker": _broker}


def readiness_report() -> dict[str, object]:
    """{"status": "ready" | "unavailable", "checks": {name: "ok" | "error: …"}, "failed": [names]}."""
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure of a dependency makes the instance not ready
            checks[name] = f"error: {type(exc).__name__}: {exc}"[:300]
    failed = [name for name, result in checks.items() if not result.startswith("ok")]
    return {"status": "unavailable" if failed else "ready", "checks": checks, "failed": failed}
