"""`manage.py benchmark annotate`: a short real run (throwaway database, gunicorn, 2 annotators for ~3 s) prints
one JSON line with every measurement, and every judgment the annotators made was stored; `--floor` adds the same
clients' figures for the simplest authenticated request on the same server."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.slow

KEYS = {
    "benchmark", "annotators", "seconds", "judgments", "judgments_per_s", "p50_ms", "p95_ms", "p99_ms", "errors",
    "next_p95_ms", "submit_p95_ms", "server",
}


@pytest.mark.django_db(transaction=True)
def test_a_short_annotate_benchmark_prints_its_measurements():
    out = StringIO()
    test_database = connection.settings_dict["NAME"]
    call_command(
        "benchmark", "annotate", "--annotators", "2", "--seconds", "3", "--items", "40", "--think-ms", "5",
        "--floor", "--clone-database", stdout=out,
    )
    # The benchmark ran in its own copy of the database and handed the connection back to the test database.
    assert connection.settings_dict["NAME"] == test_database
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert KEYS <= set(result)
    assert result["benchmark"] == "annotate" and result["annotators"] == 2
    # the default phase: a published posterior on the pool, so the bots met the adaptive sampler
    assert result["phase"] == "adaptive" and result["think_ms"] == 5
    assert result["errors"] == 0, result.get("error_examples")
    assert result["judgments"] > 0 and result["judgments"] == result["stored_judgments"]
    assert 2.5 < result["seconds"] < 15  # the clock stops when the last in-flight request returns
    assert result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert result["server"].startswith("gunicorn config.wsgi:application --bind=127.0.0.1:")

    # the framework's floor: the same two logged-in clients asked GET /api/v1/me/ for the same time
    floor = result["floor"]
    assert floor["path"] == "/api/v1/me/" and floor["errors"] == 0, floor.get("error_examples")
    assert floor["requests"] > 0 and floor["requests_per_s"] > 0
    assert floor["p50_ms"] <= floor["p95_ms"] <= floor["p99_ms"]
    assert set(floor["cpu_ms_per_request"]) == {"client", "server", "database"}
    # a judgment does everything the floor request does (session, user, DRF) and more
    assert result["judgment_cpu_in_floor_requests"] > 1
