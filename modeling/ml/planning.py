"""Budget planning by simulation with the real engine: how many judgments does a pool need to reach a target?

Given a pool size, a protocol (pairwise, listwise k, best–worst k), the expected noise and a target — a median 95 %
interval width in intensity points, a Spearman correlation with the truth, or both — ``plan`` simulates annotators
answering from a known truth, fits each simulated campaign with the engine (``plackett_luce.fit`` and the platform's
quantile intensity scale), and binary-searches the judgments per item (how many judgments show each text, on
average) at which the median over a few seeds meets the target. Comparisons are drawn uniformly at random, so the
answer is the *random design's* budget; adaptive selection should need fewer (the run-time comparison says how many
fewer).

The noise model is the simulated annotators' (docs/benchmarks.md): true intensities uniform on [−10, 10], an
annotator perceives t / 2.5 + noise · Gumbel and answers by it, which is Plackett–Luce with utilities of standard
deviation 2.31 / noise. ``NOISE_SPREADS`` names the levels the benchmarks use. A share of spammers answering at
random can be added.

Pools larger than ``max_simulated_items`` are simulated at that size: the judgments each text needs depend on how
often it is compared, not on how many other texts there are, so judgments per item carry over and the total is
judgments per item × pool size / k.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from modeling.ml import plackett_luce
from modeling.ml.plackett_luce import IntensityScale
from modeling.ml.plackett_luce.simulate import simulate_best_worst, simulate_pairs, simulate_rankings

PAIRWISE, LISTWISE, BEST_WORST = "pairwise", "listwise", "best_worst"
PROTOCOL_SIZES = {PAIRWISE: range(2, 3), LISTWISE: range(3, 9), BEST_WORST: range(4, 7)}
# Standard deviation of the true utilities (logits) for the simulated annotators' noise levels (low = 0.5,
# moderate = 1.0, high = 2.0 Gumbel multipliers at 2.5 intensity points per logit): 10/√3 / (2.5 · noise).
NOISE_SPREADS = {"low": 4.62, "moderate": 2.31, "high": 1.15}
MAX_JUDGMENTS_PER_ITEM = 400


@dataclass(frozen=True)
class PlanSettings:
    n_items: int
    protocol: str = PAIRWISE
    k: int = 2
    spread: float = NOISE_SPREADS["moderate"]
    target_ci_width: float | None = None
    target_spearman: float | None = None
    spam_share: float = 0.0
    seeds: int = 3
    max_simulated_items: int = 1000
    max_judgments_per_item: int = 200

    def __post_init__(self) -> None:
        problems = []
        if self.protocol not in PROTOCOL_SIZES:
            problems.append(f"protocol must be one of {', '.join(PROTOCOL_SIZES)}, got {self.protocol!r}")
        elif self.k not in PROTOCOL_SIZES[self.protocol]:
            sizes = PROTOCOL_SIZES[self.protocol]
            problems.append(f"k for {self.protocol} must be {sizes.start}–{sizes.stop - 1}, got {self.k}")
        if self.n_items < max(self.k, 3):
            problems.append(f"n_items must be at least {max(self.k, 3)} (a pool to rank), got {self.n_items}")
        if not (np.isfinite(self.spread) and self.spread > 0):
            problems.append(f"spread (standard deviation of true utilities) must be positive, got {self.spread}")
        if self.target_ci_width is None and self.target_spearman is None:
            problems.append("give a target: target_ci_width (intensity points) and/or target_spearman")
        if self.target_ci_width is not None and not 0 < self.target_ci_width <= 20:
            problems.append(f"target_ci_width must lie in (0, 20] intensity points, got {self.target_ci_width}")
        if self.target_spearman is not None and not 0 < self.target_spearman < 1:
            problems.append(f"target_spearman must lie in (0, 1), got {self.target_spearman}")
        if not 0 <= self.spam_share < 1:
            problems.append(f"spam_share must lie in [0, 1), got {self.spam_share}")
        if not 1 <= self.seeds <= 20:
            problems.append(f"seeds must be 1–20, got {self.seeds}")
        if not 10 <= self.max_simulated_items <= 20000:
            problems.append(f"max_simulated_items must be 10–20000, got {self.max_simulated_items}")
        if not 1 <= self.max_judgments_per_item <= MAX_JUDGMENTS_PER_ITEM:
            problems.append(
                f"max_judgments_per_item must be 1–{MAX_JUDGMENTS_PER_ITEM}, got {self.max_judgments_per_item}"
            )
        if problems:
            raise ValueError("; ".join(problems) + ".")

    @property
    def simulated_items(self) -> int:
        return min(self.n_items, self.max_simulated_items)

    def total_judgments(self, judgments_per_item: float) -> int:
        return int(math.ceil(judgments_per_item * self.n_items / self.k))


@dataclass(frozen=True)
class Evaluation:
    judgments_per_item: int
    median_ci_width: float
    spearman: float
    meets_target: bool


@dataclass
class Plan:
    settings: PlanSettings
    reachable: bool
    judgments_per_item: int | None  # the smallest meeting the target (None: not within max_judgments_per_item)
    judgments: int | None  # for the whole pool
    evaluations: list[Evaluation] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": asdict(self.settings),
            "reachable": self.reachable,
            "judgments_per_item": self.judgments_per_item,
            "judgments": self.judgments,
            "simulated_items": self.settings.simulated_items,
            "evaluations": [asdict(e) for e in sorted(self.evaluations, key=lambda e: e.judgments_per_item)],
            "seconds": round(self.seconds, 3),
        }


def simulate_campaign(settings: PlanSettings, judgments_per_item: int, seed: int) -> tuple[float, float]:
    """(median 95 % interval width in intensity points, Spearman with the truth) of one simulated random design."""
    rng = np.random.default_rng(seed)
    n = settings.simulated_items
    half_range = math.sqrt(3.0) * settings.spread  # uniform truth with this standard deviation
    theta = rng.uniform(-half_range, half_range, size=n)
    n_judgments = max(1, int(math.ceil(judgments_per_item * n / settings.k)))
    if settings.protocol == PAIRWISE:
        data = simulate_pairs(theta, n_judgments, seed=rng, random_rate=settings.spam_share)
    elif settings.protocol == LISTWISE:
        data = simulate_rankings(theta, n_judgments, settings.k, seed=rng, random_rate=settings.spam_share)
    else:
        data = simulate_best_worst(theta, n_judgments, settings.k, seed=rng)
        if settings.spam_share:
            data = _with_random_best_worst(data, theta, settings, rng)
    result = plackett_luce.fit(data, choix_max_items=0, compute_se=True)
    assert result.se is not None  # compute_se=True
    scale = IntensityScale.from_quantiles(result.utilities)
    low, high = scale.interval(result.utilities, result.se)
    return float(np.median(high - low)), float(spearmanr(result.utilities, theta).statistic)


def _with_random_best_worst(data: Any, theta: np.ndarray, settings: PlanSettings, rng: np.random.Generator) -> Any:
    """Best–worst data where a spam share of the tuples is answered by annotators who ignore the texts."""
    n_spam = int(round(settings.spam_share * data.n_judgments))
    keep_honest = data.n_judgments - n_spam
    from modeling.ml.agreement import data_subset

    honest = data_subset(data, np.arange(data.n_judgments) < keep_honest)
    spam = simulate_best_worst(np.zeros_like(theta), n_spam, settings.k, seed=rng) if n_spam else None
    return honest if spam is None else plackett_luce.ComparisonData.concat(honest, spam)


def evaluate(settings: PlanSettings, judgments_per_item: int) -> Evaluation:
    """The median over ``settings.seeds`` simulations (seeds 0, 1, …: the same truths for every budget, so the
    search compares like with like)."""
    widths, correlations = zip(
        *(simulate_campaign(settings, judgments_per_item, seed) for seed in range(settings.seeds)), strict=True
    )
    width, rho = float(np.median(widths)), float(np.median(correlations))
    meets = (settings.target_ci_width is None or width <= settings.target_ci_width) and (
        settings.target_spearman is None or rho >= settings.target_spearman
    )
    return Evaluation(judgments_per_item, round(width, 4), round(rho, 4), meets)


def plan(settings: PlanSettings, *, report: Callable[[float, str], None] | None = None) -> Plan:
    """The smallest judgments per item meeting the target: doubling from 2 until it is met, then bisection."""
    started = time.perf_counter()
    report = report or (lambda progress, message: None)
    evaluations: dict[int, Evaluation] = {}

    def meets(jpi: int) -> bool:
        if jpi not in evaluations:
            report(min(0.95, 0.05 + 0.1 * len(evaluations)), f"Simulating {jpi} judgments per text…")
            evaluations[jpi] = evaluate(settings, jpi)
        return evaluations[jpi].meets_target

    failing, passing = 0, None
    jpi = 2
    while jpi <= settings.max_judgments_per_item:
        if meets(jpi):
            passing = jpi
            break
        failing, jpi = jpi, jpi * 2
    if passing is None and failing < settings.max_judgments_per_item and meets(settings.max_judgments_per_item):
        passing = settings.max_judgments_per_item
    if passing is not None:
        while passing - failing > 1:
            middle = (passing + failing) // 2
            if meets(middle):
                passing = middle
            else:
                failing = middle
    return Plan(
        settings=settings,
        reachable=passing is not None,
        judgments_per_item=passing,
        judgments=settings.total_judgments(passing) if passing is not None else None,
        evaluations=list(evaluations.values()),
        seconds=time.perf_counter() - started,
    )
