"""`benchmark adaptive`: how many fewer judgments does adaptive selection need than random pairs to reach a
Spearman correlation of 0.95 with the truth?

In-process simulation, one strategy at a time on the same truth (per seed):

- truth: utilities uniform with the moderate noise level's spread (simulated annotators at moderate noise, see
  modeling/ml/planning.py), answered by the Bradley–Terry model;
- random pairs: every judgment a uniformly random pair;
- adaptive: every request scores candidates with labeling's own function (`labeling.services.sampling.
  ranked_indices`, the core of the `ranked_comparisons` that `assignment_next` serves annotators with) on the
  *published* utilities and standard errors, exactly as the live system sees them: the published fit lags, and is
  refreshed every `--refit-every` judgments (the live refit's debounce); candidates are a random stretch of the pool
  (wrapping around its end) plus the least-exposed items (`RANDOM_CANDIDATES` + `LEAST_EXPOSED_CANDIDATES`),
  exposure counts every judgment given; a `--random-fraction` share of requests is a random pair (the campaign's
  default keeps 20 % random for graph connectivity); before the first fit, pairs are the least exposed items (the
  cold start). Random pairs and adaptive selection are refit at the same cadence.

After every refit the utilities are compared with the truth; a strategy's "judgments needed" is the first refit at
which Spearman ≥ `--target` (0.95). `saving` = 1 − adaptive / random, the median over seeds.

Fits use the live refit's prior strength and the engine's O(m) backend (Newman's iteration, the same optimum as
choix) with diagonal standard errors, as the live refit does above 2,000 texts; the benchmark is about selection,
not fit speed.

`--next-latency` measures something else: the time of `next` with adaptive selection on a large pool in
PostgreSQL, through the real service (modeling/benchmarks/adaptive_next.py).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from common.arguments import positive_int
from labeling.services.sampling import LEAST_EXPOSED_CANDIDATES, RANDOM_CANDIDATES, ranked_indices
from modeling.ml.plackett_luce import ComparisonData, fit
from modeling.ml.planning import NOISE_SPREADS
from modeling.services.fits import PRIOR_STRENGTH

HELP = "Judgments adaptive selection and random pairs need to reach Spearman 0.95 with the truth; print the saving."
TARGET_SAVING = 0.30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=positive_int, default=2000, help="texts in the pool")
    parser.add_argument("--seeds", type=positive_int, default=5, help="independent truths; the saving is the median")
    parser.add_argument("--target", type=float, default=0.95, help="Spearman with the truth to reach")
    parser.add_argument("--noise", choices=sorted(NOISE_SPREADS), default="moderate")
    parser.add_argument("--refit-every", type=positive_int, default=None,
                        help="judgments between refits (default: a tenth of the pool, at least 20)")
    parser.add_argument("--random-fraction", type=float, default=0.2, help="share of adaptive requests drawn at random")
    parser.add_argument("--max-judgments-per-item", type=positive_int, default=60,
                        help="give up on a strategy beyond this many judgments per text")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--next-latency", action="store_true",
                        help="instead: time `next` with adaptive selection on a large pool in PostgreSQL")
    parser.add_argument("--next-items", type=positive_int, default=100_000, help="texts in the --next-latency pool")
    parser.add_argument("--next-requests", type=positive_int, default=300, help="`next` requests timed")
    parser.add_argument("--next-annotators", type=positive_int, default=10, help="annotators asking in turn")
    parser.add_argument("--clone-database", action="store_true",
                        help="--next-latency: copy the current (migrated, empty, idle) database instead of "
                        "migrating one")


def run(options: dict[str, Any]) -> dict[str, Any]:
    if options.get("next_latency"):
        from modeling.benchmarks.adaptive_next import next_latency_benchmark

        return {
            "benchmark": "adaptive",
            **next_latency_benchmark(
                items=options["next_items"],
                requests=options["next_requests"],
                annotators=options["next_annotators"],
                seed=options["seed"],
                clone_database=options["clone_database"],
            ),
        }
    return adaptive_benchmark(
        items=options["items"],
        seeds=options["seeds"],
        target=options["target"],
        noise=options["noise"],
        refit_every=options["refit_every"],
        random_fraction=options["random_fraction"],
        max_judgments_per_item=options["max_judgments_per_item"],
        first_seed=options["seed"],
    )


def adaptive_benchmark(
    *,
    items: int = 2000,
    seeds: int = 5,
    target: float = 0.95,
    noise: str = "moderate",
    refit_every: int | None = None,
    random_fraction: float = 0.2,
    max_judgments_per_item: int = 60,
    first_seed: int = 0,
) -> dict[str, Any]:
    if items < 10:
        raise ValueError(f"--items must be at least 10 to rank a pool, got {items}.")
    if not 0 < target < 1:
        raise ValueError(f"--target must lie in (0, 1), got {target}.")
    if not 0 <= random_fraction <= 1:
        raise ValueError(f"--random-fraction must lie in [0, 1], got {random_fraction}.")
    refit_every = refit_every or max(20, items // 10)
    started = time.perf_counter()
    runs = []
    for seed in range(first_seed, first_seed + seeds):
        rng = np.random.default_rng(seed)
        half_range = math.sqrt(3.0) * NOISE_SPREADS[noise]
        truth = rng.uniform(-half_range, half_range, size=items)
        budget = max_judgments_per_item * items // 2
        random_needed = _judgments_to_target(
            truth, _random_pairs(items, np.random.default_rng([seed, 1])), target, refit_every, budget, seed
        )
        adaptive_needed = _judgments_to_target(
            truth, _adaptive_pairs(items, random_fraction, np.random.default_rng([seed, 2])), target, refit_every,
            budget, seed,
        )
        saving = None if random_needed is None or adaptive_needed is None else 1.0 - adaptive_needed / random_needed
        runs.append({"seed": seed, "random": random_needed, "adaptive": adaptive_needed, "saving": saving})
    savings = [r["saving"] for r in runs if r["saving"] is not None]
    saving = float(np.median(savings)) if len(savings) == len(runs) else None
    random_counts = [r["random"] for r in runs if r["random"] is not None]
    adaptive_counts = [r["adaptive"] for r in runs if r["adaptive"] is not None]
    return {
        "benchmark": "adaptive",
        "items": items,
        "seeds": seeds,
        "target_spearman": target,
        "noise": noise,
        "refit_every": refit_every,
        "random_fraction": random_fraction,
        "saving": None if saving is None else round(saving, 4),
        "target_saving": TARGET_SAVING,
        "meets_target": saving is not None and saving >= TARGET_SAVING,
        "random_judgments": int(np.median(random_counts)) if random_counts else None,
        "adaptive_judgments": int(np.median(adaptive_counts)) if adaptive_counts else None,
        "random_judgments_per_item": _per_item(random_counts, items),
        "adaptive_judgments_per_item": _per_item(adaptive_counts, items),
        "runs": [{**r, "saving": None if r["saving"] is None else round(r["saving"], 4)} for r in runs],
        "seconds": round(time.perf_counter() - started, 2),
    }


def _per_item(counts: list[float], items: int) -> float | None:
    """Median judgments per text (each pair shows two texts)."""
    return round(float(np.median(counts)) * 2 / items, 2) if counts else None


# A strategy: given the published (utilities, standard errors) or None before the first fit, and the exposure
# counts, returns the next pair. It is called once per judgment.
Strategy = Callable[[tuple[np.ndarray, np.ndarray] | None, np.ndarray], tuple[int, int]]


def _random_pairs(n: int, rng: np.random.Generator) -> Strategy:
    def choose(posterior: tuple[np.ndarray, np.ndarray] | None, exposure: np.ndarray) -> tuple[int, int]:
        a, b = rng.choice(n, size=2, replace=False)
        return int(a), int(b)

    return choose


def _adaptive_pairs(n: int, random_fraction: float, rng: np.random.Generator) -> Strategy:
    """Labeling's adaptive choice, in memory: the same candidate sample and the same scoring function."""

    def choose(posterior: tuple[np.ndarray, np.ndarray] | None, exposure: np.ndarray) -> tuple[int, int]:
        if posterior is not None and rng.random() < random_fraction:
            a, b = rng.choice(n, size=2, replace=False)
            return int(a), int(b)
        least = np.argpartition(exposure, LEAST_EXPOSED_CANDIDATES)[:LEAST_EXPOSED_CANDIDATES]
        if posterior is None:  # cold start: balanced, two of the least exposed
            a, b = rng.choice(least, size=2, replace=False)
            return int(a), int(b)
        start = int(rng.integers(n))
        stretch = np.arange(start, start + min(RANDOM_CANDIDATES, n)) % n
        # in the order candidates_read returns them: the stretch from its start, then the least exposed
        ids = np.concatenate([stretch, least[~np.isin(least, stretch)]])
        utilities, se = posterior
        (best, _), *_ = ranked_indices(utilities[ids], se[ids], exposure[ids].astype(float), k=2)
        return int(ids[best[0]]), int(ids[best[1]])

    return choose


def _judgments_to_target(
    truth: np.ndarray, choose: Strategy, target: float, refit_every: int, budget: int, seed: int
) -> int | None:
    """Run one strategy until a refit reaches the target Spearman; the judgments given by then, or None."""
    n = truth.size
    rng = np.random.default_rng([seed, 3])
    winners = np.empty(budget, dtype=np.int64)
    losers = np.empty(budget, dtype=np.int64)
    exposure = np.zeros(n, dtype=np.int64)
    posterior: tuple[np.ndarray, np.ndarray] | None = None
    previous = None
    for given in range(budget):
        a, b = choose(posterior, exposure)
        a_wins = rng.random() < 1.0 / (1.0 + math.exp(truth[b] - truth[a]))
        winners[given], losers[given] = (a, b) if a_wins else (b, a)
        exposure[a] += 1
        exposure[b] += 1
        if (given + 1) % refit_every == 0:
            data = ComparisonData.from_pairs(n, winners[: given + 1], losers[: given + 1])
            result = fit(
                data, prior_strength=PRIOR_STRENGTH, choix_max_items=0, se_exact_max_items=0, init=previous
            )
            previous = result.utilities
            assert result.se is not None  # fit computes standard errors by default
            posterior = (result.utilities, result.se)
            if spearmanr(result.utilities, truth).statistic >= target:
                return given + 1
    return None
