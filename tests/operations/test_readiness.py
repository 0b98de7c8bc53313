"""/health/ says the process lives; /ready/ checks PostgreSQL, the cache (Redis) and the broker, and names the one
that fails with a 503."""

import pytest

from common import readiness


def test_ready_answers_200_when_every_dependency_answers(client, db):
    response = client.get("/ready/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert body["failed"] == []
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(result.startswith("ok") for result in body["checks"].values())


@pytest.mark.parametrize("dependency", ["database", "cache", "broker"])
def test_ready_answers_503_naming_the_dependency_that_fails(client, db, monkeypatch, dependency):
    def broken() -> str:
        raise ConnectionRefusedError(f"{dependency} is down")

    monkeypatch.setitem(readiness.CHECKS, dependency, broken)
    response = client.get("/ready/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == [dependency]
    assert body["checks"][dependency] == f"error: ConnectionRefusedError: {dependency} is down"


def test_an_unreachable_redis_fails_the_cache_check_quickly(settings, db):
    # A port nothing listens on: the real check, not a stub, must report it within its timeout.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    report = readiness.readiness_report()
    assert report["failed"] == ["cache"]
    assert report["checks"]["cache"].startswith("error: ConnectionError")
