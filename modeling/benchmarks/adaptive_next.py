"""`benchmark adaptive --next-latency`: how long does `next` take with adaptive selection on a large pool?

In a throwaway PostgreSQL database (created, migrated, dropped afterwards): `--next-items` generated texts imported
through the import service, a running pairwise campaign over them with the platform's default sampling (adaptive),
and a published posterior written onto the pool as a refit publishes it (utility and standard error per text).
Then `--next-annotators` annotators ask for comparisons in turn, in process, through the real service
(`assignment_next`), each answering before asking again (`judgment_submit`, not timed). Per `next` it records the
wall-clock time, the CPU time of this process (Django and the sampler) and of its PostgreSQL backend (from /proc:
the database runs on this machine in the benchmark setup). CPU times hardly change when other work shares the
machine; wall-clock times do, so the 1-minute load average is printed beside them. The sampler's own share —
reading the candidates and scoring them (labeling.services.sampling) — is timed apart on the same pool.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import numpy as np
from django.db import connection

from modeling.simulation.annotators import percentile

TARGET_NEXT_P95_MS = 50.0
WARM_UP_REQUESTS = 10


def next_latency_benchmark(
    *, items: int, requests: int, annotators: int, seed: int = 0, clone_database: bool = False
) -> dict[str, Any]:
    from accounts.models import User
    from labeling.models import CampaignItem
    from labeling.services.assignment import assignment_next
    from labeling.services.judgments import judgment_submit
    from modeling.simulation.server import process_cpu_s, throwaway_database
    from modeling.simulation.synthetic import synthetic_campaign_create, synthetic_posterior_publish

    if items < 2:
        raise ValueError(f"--next-items must be at least 2, got {items}.")
    with throwaway_database(clone_current=clone_database):
        setup_started = time.monotonic()
        synthetic = synthetic_campaign_create(
            items=items, annotators=annotators, judgments_per_item=1_000_000, seed=seed
        )
        campaign = synthetic.campaign
        synthetic_posterior_publish(campaign, seed=seed)
        setup_seconds = time.monotonic() - setup_started
        users = list(User.objects.filter(username__in=[name for name, _ in synthetic.accounts]).order_by("id"))
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend_pid = cursor.fetchone()[0]
        rng = random.Random(seed)
        wall_ms, cpu_ms, database_ms, reasons = [], [], [], []
        for index in range(WARM_UP_REQUESTS + requests):
            annotator = users[index % len(users)]
            wall, cpu, database = time.perf_counter(), time.process_time(), process_cpu_s(backend_pid)
            lease = assignment_next(campaign=campaign, annotator=annotator, rng=rng).assignment
            wall = time.perf_counter() - wall
            cpu, database = time.process_time() - cpu, process_cpu_s(backend_pid) - database
            if lease is None:
                raise RuntimeError("the campaign stopped handing out comparisons during the benchmark")
            if index >= WARM_UP_REQUESTS:
                wall_ms.append(wall * 1000)
                cpu_ms.append(cpu * 1000)
                database_ms.append(database * 1000)
                reasons.append(lease.reason)
            ordering = [[item] for item in lease.item_ids]
            judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=ordering)
        sampler = _sampler_timing(campaign=campaign, requests=requests, seed=seed)
        # chosen by expected information (the rest: the campaign's random share, quality-control items)
        informative = [reason.startswith("adaptive: ") and "random comparison" not in reason for reason in reasons]
        p95 = percentile(np.asarray(wall_ms), 95)
        return {
            "next_latency": {
                "items": CampaignItem.objects.filter(campaign=campaign).count(),
                "requests": requests,
                "annotators": annotators,
                "next_p50_ms": percentile(np.asarray(wall_ms), 50),
                "next_p95_ms": p95,
                "next_p99_ms": percentile(np.asarray(wall_ms), 99),
                "target_next_p95_ms": TARGET_NEXT_P95_MS,
                "meets_target": p95 is not None and p95 <= TARGET_NEXT_P95_MS,
                "next_cpu_p50_ms": percentile(np.asarray(cpu_ms), 50),
                "next_cpu_p95_ms": percentile(np.asarray(cpu_ms), 95),
                "next_database_cpu_mean_ms": round(float(np.mean(database_ms)), 2),
                "adaptive_share": round(sum(informative) / len(informative), 3),
                **sampler,
                "load_average_1min": round(os.getloadavg()[0], 2),
                "setup_seconds": round(setup_seconds, 1),
            }
        }


def _sampler_timing(*, campaign, requests: int, seed: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The sampler's part of a request on its own: the candidate query and the scoring, CPU and wall-clock ms."""
    from labeling.services import sampling
    from modeling.simulation.server import process_cpu_s

    value_id = sampling.campaign_value_ids(campaign_id=campaign.pk)[0]
    bounds = sampling.campaign_item_id_bounds(campaign_id=campaign.pk, value_id=value_id)
    if bounds is None:
        raise ValueError("the benchmark campaign's value has no texts")
    rng = random.Random(seed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]
    read_ms, read_cpu_ms, read_database_ms, score_cpu_ms, sizes = [], [], [], [], []
    for _ in range(requests):
        wall, cpu, database = time.perf_counter(), time.process_time(), process_cpu_s(backend_pid)
        candidates = sampling.candidates_read(campaign=campaign, value_id=value_id, bounds=bounds, rng=rng)
        read_ms.append((time.perf_counter() - wall) * 1000)
        read_cpu_ms.append((time.process_time() - cpu) * 1000)
        read_database_ms.append((process_cpu_s(backend_pid) - database) * 1000)
        cpu = time.process_time()
        ranked = list(sampling.ranked_comparisons(candidates, k=campaign.list_size))
        score_cpu_ms.append((time.process_time() - cpu) * 1000)
        sizes.append(len(candidates))
        if not ranked:
            raise RuntimeError("the sampler found no comparison among its candidates")
    return {
        "sampler_candidates": int(np.median(sizes)),
        "sampler_read_p95_ms": percentile(np.asarray(read_ms), 95),
        "sampler_read_cpu_mean_ms": round(float(np.mean(read_cpu_ms)), 2),
        "sampler_read_database_cpu_mean_ms": round(float(np.mean(read_database_ms)), 2),
        "sampler_score_cpu_mean_ms": round(float(np.mean(score_cpu_ms)), 2),
    }
