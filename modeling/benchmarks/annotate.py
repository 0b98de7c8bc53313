"""`benchmark annotate`: throughput and latency of the annotation path (log in, next, submit) over real HTTP.

In a throwaway PostgreSQL database (created next to the configured one, migrated, dropped afterwards) it imports a
synthetic pool, starts a campaign and creates the annotator accounts, starts the platform under gunicorn on a free
loopback port, lets A simulated annotators work for S seconds (see --think-ms), stops gunicorn and
prints one JSON line. Latencies are client-side round trips; each submit asks for the next comparison in the same
request (`"next": true`), so `submit_p95_ms` covers both and `next` is asked apart only for a bot's first comparison
(or after a "busy").

`--phase adaptive` (the default) publishes a posterior on the pool before the clock starts, as a refit does early in
a campaign, so `next` runs the adaptive sampler of a campaign's main phase; `--phase cold` measures the cold start
(no fit yet: balanced sampling). `--think-ms 0` (the default) has every bot answer at once: the bots then ask as fast
as the server answers, which measures capacity, and their round trips are, by Little's law, annotators ÷
judgments/s on average (20 bots at 200/s: 100 ms), whatever the code does. `--think-ms T` gives each bot an
exponentially distributed reading time of mean T before each answer, the load of annotators who read: it
measures the latency of a given offered load (20 bots thinking 80 ms offer ~200 judgments/s).

`--profile` adds the database queries and in-process time of one `next` and of one submit
with its next (measured with Django's test client against the same database).

`--floor` then runs the same accounts, think time and duration against the same server asking only the simplest
authenticated request, `GET /api/v1/me/` (modeling/simulation/floor.py), and adds its figures under `floor`: what
gunicorn, the middleware, the session and DRF cost on this machine before any annotation code runs. No annotation
code can beat it, so it tells whether a target is out of this machine's reach whatever the code does.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
from django.db import connection

from common.arguments import non_negative_float, positive_float, positive_int
from modeling.simulation.annotators import SimulationPlan, percentile, simulate
from modeling.simulation.floor import FLOOR_PATH, framework_floor
from modeling.simulation.server import (
    Server,
    database_cpu_seconds,
    gunicorn_server,
    process_cpu_s,
    throwaway_database,
)
from modeling.simulation.synthetic import DEFAULT_LIST_SIZE, synthetic_campaign_create, synthetic_posterior_publish

HELP = "Measure judgments/s and next/submit latency of A simulated annotators over HTTP against gunicorn."
# Enough judgments per item that the pool never runs dry during a benchmark: the run measures the steady state.
BENCHMARK_JUDGMENTS_PER_ITEM = 100_000
PROFILE_ROUNDS = 50
PHASES = ("adaptive", "cold")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotators", type=positive_int, required=True, help="concurrent simulated annotators")
    parser.add_argument("--seconds", type=positive_float, required=True, help="how long they work")
    parser.add_argument("--items", type=positive_int, default=1000, help="texts in the synthetic pool")
    parser.add_argument("--protocol", choices=sorted(DEFAULT_LIST_SIZE), default="pairwise")
    parser.add_argument("--list-size", type=int, default=None, help="texts per comparison (default 2, or 4)")
    parser.add_argument("--workers", type=positive_int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=positive_int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--login", choices=["session", "basic"], default="session", help="how annotators authenticate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--think-ms",
        type=non_negative_float,
        default=0.0,
        help="mean reading time of a bot before each answer (exponential); 0: back to back (capacity)",
    )
    parser.add_argument(
        "--phase",
        choices=PHASES,
        default="adaptive",
        help="adaptive: a published posterior is on the pool (the campaign's main phase); cold: no fit yet",
    )
    parser.add_argument("--profile", action="store_true", help="add queries and in-process ms per next and submit")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="then measure the simplest authenticated request (GET /api/v1/me/) the same way: the framework's floor",
    )
    parser.add_argument(
        "--clone-database",
        action="store_true",
        help="copy the current database (it must be migrated, empty and idle, like the test database) instead of "
        "migrating a new one",
    )


def run(options: dict[str, Any]) -> dict[str, Any]:
    return annotate_benchmark(
        annotators=options["annotators"],
        seconds=options["seconds"],
        items=options["items"],
        protocol=options["protocol"],
        list_size=options["list_size"],
        workers=options["workers"],
        threads=options["threads"],
        login_method=options["login"],
        seed=options["seed"],
        think_ms=options["think_ms"],
        phase=options["phase"],
        profile=options["profile"],
        floor=options["floor"],
        clone_database=options["clone_database"],
    )


def annotate_benchmark(
    *,
    annotators: int,
    seconds: float,
    items: int = 1000,
    protocol: str = "pairwise",
    list_size: int | None = None,
    workers: int = 2,
    threads: int = 4,
    login_method: str = "session",
    seed: int = 0,
    think_ms: float = 0.0,
    phase: str = "adaptive",
    profile: bool = False,
    floor: bool = False,
    clone_database: bool = False,
) -> dict[str, Any]:
    list_size = list_size or DEFAULT_LIST_SIZE[protocol]
    if list_size > items:
        raise ValueError(f"--list-size {list_size} needs at least {list_size} texts, got --items {items}.")
    with throwaway_database(clone_current=clone_database) as url:
        setup_started = time.monotonic()
        synthetic = synthetic_campaign_create(
            items=items,
            annotators=annotators,
            protocol=protocol,
            list_size=list_size,
            judgments_per_item=BENCHMARK_JUDGMENTS_PER_ITEM,
            seed=seed,
        )
        campaign = synthetic.campaign
        if phase == "adaptive":
            synthetic_posterior_publish(campaign, seed=seed)
        setup_seconds = time.monotonic() - setup_started
        with gunicorn_server(database_url=url, workers=workers, threads=threads) as server:
            database_name = connection.settings_dict["NAME"]
            cpu_before: list[float] = []

            def read_cpu_counters() -> None:  # once every annotator has logged in: password hashing stays out
                cpu_before.extend(_cpu_counters(server, database_name))

            result = simulate(
                SimulationPlan(
                    base_url=server.base_url,
                    campaign_id=campaign.pk,
                    accounts=synthetic.accounts,
                    truth=synthetic.truth,
                    protocol=campaign.protocol,
                    allow_ties=campaign.allow_ties,
                    spam=0.0,
                    seconds=seconds,
                    seed=seed,
                    login_method=login_method,
                    think_ms=think_ms,
                ),
                on_clock_start=read_cpu_counters,
            )
            cpu_after = _cpu_counters(server, database_name)
            server_log = server.log_tail() if result.errors else ""
            floor_measurements = None
            if floor:
                floor_measurements = _floor(
                    server, database_name, accounts=synthetic.accounts, seconds=seconds, think_ms=think_ms, seed=seed
                )
        stored = campaign.judgments.count()
        measurements: dict[str, Any] = {
            "benchmark": "annotate",
            "annotators": annotators,
            "seconds": round(result.seconds, 3),
            "judgments": result.judgments,
            "judgments_per_s": round(result.judgments / result.seconds, 2) if result.seconds > 0 else 0.0,
            "p50_ms": percentile(result.latencies_ms("all"), 50),
            "p95_ms": percentile(result.latencies_ms("all"), 95),
            "p99_ms": percentile(result.latencies_ms("all"), 99),
            "errors": result.errors,
            "next_p95_ms": percentile(result.latencies_ms("next"), 95),
            "submit_p95_ms": percentile(result.latencies_ms("submit"), 95),
            "server": server.command,
            "items": items,
            "protocol": protocol,
            "list_size": list_size,
            "think_ms": think_ms,
            "phase": phase,
            "stored_judgments": stored,
            "setup_seconds": round(setup_seconds, 2),
        }
        if cpu_before:
            measurements.update(_cpu_budget(tuple(cpu_before), cpu_after, result.judgments))
        if result.errors:
            measurements["error_examples"] = result.summary()["error_examples"]
            measurements["server_log_tail"] = server_log
        if profile:
            measurements["profile"] = _profile_requests(campaign_id=campaign.pk, username=synthetic.accounts[0][0])
        if floor_measurements is not None:
            measurements["floor"] = floor_measurements
            judgment_cpu = sum(measurements.get("cpu_ms_per_judgment", {}).values())
            request_cpu = sum(floor_measurements.get("cpu_ms_per_request", {}).values())
            if judgment_cpu and request_cpu:
                # how many floor requests' worth of CPU one judgment costs
                measurements["judgment_cpu_in_floor_requests"] = round(judgment_cpu / request_cpu, 2)
        return measurements


def _floor(server: Server, database_name: str, **plan: Any) -> dict[str, Any]:
    """The framework's floor on the benchmark's own server (modeling/simulation/floor.py), with the CPU per request
    of the clients, gunicorn and PostgreSQL read the same way as for judgments."""
    cpu_before: list[float] = []

    def read_cpu_counters() -> None:
        cpu_before.extend(_cpu_counters(server, database_name))

    result = framework_floor(base_url=server.base_url, on_clock_start=read_cpu_counters, **plan)
    cpu_after = _cpu_counters(server, database_name)
    latencies = np.asarray(result.latencies_ms, dtype=float)
    measurements: dict[str, Any] = {
        "path": FLOOR_PATH,
        "requests": result.requests,
        "requests_per_s": round(result.requests / result.seconds, 2) if result.seconds > 0 else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "errors": result.errors,
    }
    if cpu_before:
        measurements.update(_cpu_budget(tuple(cpu_before), cpu_after, result.requests, unit="request"))
    if result.error_examples:
        measurements["error_examples"] = result.error_examples
    return measurements


def _cpu_counters(server: Server, database_name: str) -> tuple[float, float, float]:
    """CPU seconds used so far by this process (the bots), gunicorn and the PostgreSQL backends of the database."""
    return time.process_time(), server.cpu_seconds(), database_cpu_seconds(database_name)


def _cpu_budget(
    before: tuple[float, ...], after: tuple[float, ...], count: int, *, unit: str = "judgment"
) -> dict[str, Any]:
    """CPU milliseconds per `unit` (judgment, or request of the floor) of the bots (this process), gunicorn and
    PostgreSQL during the run, and the units/s those costs would allow if they had every core of this machine to
    themselves. Wall-clock figures depend on what else runs on the machine; these hardly do (report the load average
    with them)."""
    if not count:
        return {}
    spent = {
        part: max(0.0, end - start) * 1000 / count
        for part, start, end in zip(("client", "server", "database"), before, after, strict=True)
    }
    cores = os.cpu_count() or 1
    return {
        f"cpu_ms_per_{unit}": {part: round(ms, 2) for part, ms in spent.items()},
        f"cpu_bound_{unit}s_per_s": round(cores * 1000 / sum(spent.values()), 1) if sum(spent.values()) else None,
        "cores": cores,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def _profile_requests(*, campaign_id: int, username: str) -> dict[str, Any]:
    """Where a round trip's time goes, for one annotator, through the whole Django stack (middleware, DRF,
    services) but without HTTP and gunicorn: queries per request, and per request the wall time, the CPU time of
    Django (this process) and of its PostgreSQL backend (read from /proc; the database runs on this machine in
    the benchmark setup). CPU times hardly change when other work shares the machine; wall times do."""
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from labeling.models import Campaign

    best_worst = Campaign.objects.filter(pk=campaign_id, protocol=Campaign.Protocol.BEST_WORST).exists()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username=username))

    def ask() -> dict[str, Any]:
        response = client.post(f"/api/v1/campaigns/{campaign_id}/next/", {}, content_type="application/json")
        assignment = response.json().get("assignment")
        if not assignment:
            raise ValueError(f"profiling: the campaign gave no comparison ({response.json().get('reason')}).")
        return assignment

    def answer(assignment: dict[str, Any], then_next: bool) -> dict[str, Any] | None:
        """Submit; with `then_next` (as the bots do) returns the next comparison the response carries."""
        ids = [item["id"] for item in assignment["items"]]
        if best_worst:
            ordering, kind = [[ids[0]], ids[1:-1], [ids[-1]]], "best_worst"
        else:
            ordering, kind = [[i] for i in ids], "ranking"
        response = client.post(
            f"/api/v1/assignments/{assignment['id']}/submit/",
            {"ordering": ordering, "kind": kind, "latency_ms": 1000, "next": then_next},
            content_type="application/json",
        )
        if response.status_code != 201:
            raise ValueError(f"profiling: submit answered {response.status_code}: {response.content[:200]!r}")
        if not then_next:
            return None
        following = response.json()["next"].get("assignment")
        if not following:
            raise ValueError(f"profiling: the campaign gave no comparison ({response.json()['next'].get('reason')}).")
        return following

    # Each request clears the connection's query log when it starts, so count inside the context.
    assignment = ask()
    with CaptureQueriesContext(connection) as captured:
        answer(assignment, False)
        submit_queries = len(captured)
    with CaptureQueriesContext(connection) as captured:
        assignment = ask()
        next_queries = len(captured)
    with CaptureQueriesContext(connection) as captured:
        following = answer(assignment, True)
        submit_next_queries = len(captured)
    assert following is not None  # with then_next, answer() returns the next comparison or raises
    assignment = following
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]
    # wall, django cpu, database cpu (seconds) of: a submit alone, a next after it, a submit bringing the next
    spent = {which: [0.0, 0.0, 0.0] for which in ("next", "submit", "submit_with_next")}

    def measured(which: str, call, *args):  # type: ignore[no-untyped-def]
        wall, cpu, db_cpu = time.perf_counter(), time.process_time(), process_cpu_s(backend_pid)
        result = call(*args)
        spent[which][0] += time.perf_counter() - wall
        spent[which][1] += time.process_time() - cpu
        spent[which][2] += process_cpu_s(backend_pid) - db_cpu
        return result

    for _ in range(PROFILE_ROUNDS):
        measured("submit", answer, assignment, False)
        assignment = measured("next", ask)
    for _ in range(PROFILE_ROUNDS):
        assignment = measured("submit_with_next", answer, assignment, True)
    per_request = {
        f"{which}_{label}_ms": round(totals[position] / PROFILE_ROUNDS * 1000, 2)
        for which, totals in spent.items()
        for position, label in enumerate(("wall", "django_cpu", "database_cpu"))
    }
    return {
        "rounds": PROFILE_ROUNDS,
        "next_queries": next_queries,
        "submit_queries": submit_queries,
        "submit_with_next_queries": submit_next_queries,
        **per_request,
    }
