"""`benchmark refit`: how fast and how well one value is refit, on judgments simulated from a known truth.

Measures a cold fit, then a warm refit after 1 % more judgments arrive (warm-started from the cold fit, as the live
refit task does), and reports rank agreement with the generating utilities and the coverage of the 95 % intervals.
Memory is the tracemalloc peak of a separate, untimed cold fit — the fitter's own allocations, on top of the judgment
arrays (``data_mb``); numpy reports its buffers to tracemalloc, so the number covers the arrays the fit creates.
``seconds`` are wall-clock; ``cpu_seconds`` (process CPU time) tell how much of that was ours on a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from common.arguments import positive_int
from modeling.ml.plackett_luce import BACKENDS, ComparisonData, fit
from modeling.ml.plackett_luce.simulate import simulate_pairs, simulate_rankings, true_utilities

HELP = "Time a cold Plackett–Luce fit, and a warm refit after a further hundredth of the judgments, on simulated data."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=positive_int, required=True, help="items in the pool")
    parser.add_argument("--judgments", type=positive_int, required=True, help="judgments to simulate")
    parser.add_argument("--listwise", type=int, default=2, help="items per judgment: 2 for pairs (default), 3–8 lists")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--prior-strength", type=float, default=1.0)


def run(options: dict[str, Any]) -> dict[str, Any]:
    return refit_benchmark(
        items=options["items"],
        judgments=options["judgments"],
        listwise=options["listwise"],
        seed=options["seed"],
        backend=options["backend"],
        prior_strength=options["prior_strength"],
    )


def refit_benchmark(
    *, items: int, judgments: int, listwise: int = 2, seed: int = 0, backend: str = "auto", prior_strength: float = 1.0
) -> dict[str, Any]:
    if not 2 <= listwise <= 8:
        raise ValueError(f"--listwise must be between 2 (pairs) and 8, got {listwise}.")
    if listwise > items:
        raise ValueError(f"--listwise {listwise} needs at least {listwise} items, got --items {items}.")
    truth = true_utilities(items, seed=seed)
    data = _simulate(truth, judgments, listwise, seed + 1)
    extra = _simulate(truth, max(1, judgments // 100), listwise, seed + 2)
    settings: dict[str, Any] = {"backend": backend, "prior_strength": prior_strength}

    gc.collect()
    cpu_started = time.process_time()
    cold = fit(data, **settings)
    cold_cpu = time.process_time() - cpu_started
    merged = ComparisonData.concat(data, extra)
    gc.collect()
    cpu_started = time.process_time()
    warm = fit(merged, init=cold, **settings)
    warm_cpu = time.process_time() - cpu_started

    gc.collect()
    tracemalloc.start()
    fit(data, **settings)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert cold.se is not None
    covered = np.abs(cold.utilities - truth) <= 1.96 * cold.se
    return {
        "benchmark": "refit",
        "items": items,
        "judgments": judgments,
        "listwise": listwise,
        "backend": cold.backend,
        "seconds": round(cold.seconds, 4),
        "warm_seconds": round(warm.seconds, 4),
        "iterations": cold.iterations,
        "warm_iterations": warm.iterations,
        "peak_mb": round(peak / 2**20, 1),
        "spearman": round(float(spearmanr(cold.utilities, truth)[0]), 4),
        "ci_coverage": round(float(covered.mean()), 4),
        "cpu_seconds": round(cold_cpu, 4),
        "warm_cpu_seconds": round(warm_cpu, 4),
        "converged": cold.converged and warm.converged,
        "se_method": cold.se_method,
        "data_mb": round(data.nbytes / 2**20, 1),
        "memory_measure": "tracemalloc peak of a separate cold fit, excluding the judgment arrays (data_mb)",
        "backend_reason": cold.backend_reason,
    }


def _simulate(truth: np.ndarray, judgments: int, listwise: int, seed: int) -> ComparisonData:
    if listwise == 2:
        return simulate_pairs(truth, judgments, seed=seed)
    return simulate_rankings(truth, judgments, listwise, seed=seed)
