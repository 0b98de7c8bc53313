"""The evaluator in simulation: a judge that ranks by true intensity with logistic noise, scoring texts of known
intensity exactly as an evaluation does (bucketed first window, adaptive later windows, randomised positions, a
pooled scale estimate), to measure accuracy and interval coverage — and the same windows scored with the
reference's fixed 1:1 scale, for comparison.

The simulated judge perceives each shown text at `true intensity + noise · L`, L a standard logistic variable drawn
afresh per text and window, and orders the texts by what it perceives. That is *not* exactly Plackett–Luce (whose
noise is Gumbel), so the scorer meets a judge that differs from its own model, as real judges do. Anchors' known
intensities may carry an error (`anchor_error`, a normal standard deviation): published intensities are estimates.

`benchmark evaluator` prints these figures; tests use small runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from .anchors import AnchorPanel
from .scoring import JudgedWindow, ResponseEstimate, Scale, response_score, scale_estimate
from .windows import judged_window, window_layout

LIMIT = 10.0


@dataclass(frozen=True)
class LogisticJudge:
    """Ranks texts by true intensity plus logistic noise of scale `noise` intensity points."""

    noise: float

    def rank(self, true_intensities: np.ndarray, rng: np.random.Generator) -> list[int]:
        """Shown positions, strongest perceived first."""
        perceived = np.asarray(true_intensities, dtype=float) + self.noise * rng.logistic(size=len(true_intensities))
        return [int(i) for i in np.argsort(-perceived, kind="stable")]

    def pairwise_agreement(self, *, pairs: int = 200_000, seed: int = 0) -> float:
        """Share of random text pairs (intensities uniform on [−10, 10]) this judge orders like the truth."""
        rng = np.random.default_rng(seed)
        a, b = rng.uniform(-LIMIT, LIMIT, pairs), rng.uniform(-LIMIT, LIMIT, pairs)
        pa, pb = a + self.noise * rng.logistic(size=pairs), b + self.noise * rng.logistic(size=pairs)
        return float(np.mean((pa > pb) == (a > b)))


@dataclass(frozen=True)
class SimulationSettings:
    responses: int = 400
    window_size: int = 6  # k: the scored text and k − 1 anchors
    windows_per_response: int = 3  # m
    noise: float = 1.5  # the judge's logistic noise scale, in intensity points
    anchors: int = 200  # anchor panel size, true intensities uniform on [−10, 10]
    anchor_error: float = 0.0  # error of the anchors' known intensities (normal sd, points)
    response_low: float = -9.0  # scored texts' true intensities are uniform on [response_low, response_high]
    response_high: float = 9.0
    adaptive: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.window_size < 2:
            raise ValueError(f"window_size (k) must be at least 2, got {self.window_size}")
        if self.windows_per_response < 1:
            raise ValueError(f"windows_per_response (m) must be at least 1, got {self.windows_per_response}")
        if self.anchors < self.window_size - 1:
            raise ValueError(f"{self.anchors} anchors cannot fill windows of {self.window_size - 1} anchors")
        if not (self.noise >= 0 and self.anchor_error >= 0):
            raise ValueError("noise and anchor_error must be ≥ 0")
        if not -LIMIT <= self.response_low < self.response_high <= LIMIT:
            raise ValueError("the scored texts' range must lie inside [−10, 10]")


@dataclass(frozen=True)
class SimulationOutcome:
    mae: float
    coverage: float
    mae_fixed_scale: float
    coverage_fixed_scale: float
    ms_per_response: float
    scale: float  # estimated logits per point
    scale_se: float
    mean_ci_width: float
    mean_ci_width_fixed_scale: float
    beyond_anchors: float  # share of texts that beat or lost to every anchor they met
    judge_pairwise_agreement: float
    settings: SimulationSettings

    def to_dict(self) -> dict:
        figures = {key: value for key, value in asdict(self).items() if key != "settings"}
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in figures.items()}


def simulate_evaluator(settings: SimulationSettings) -> SimulationOutcome:
    """Score `settings.responses` texts of known intensity against a simulated panel and judge."""
    rng = np.random.default_rng(settings.seed)
    judge = LogisticJudge(settings.noise)
    true_anchor = rng.uniform(-LIMIT, LIMIT, settings.anchors)
    known_anchor = np.clip(true_anchor + settings.anchor_error * rng.normal(size=settings.anchors), -LIMIT, LIMIT)
    panel = AnchorPanel.build(range(settings.anchors), known_anchor.tolist())
    true_of = dict(enumerate(true_anchor.tolist()))
    known_of = dict(enumerate(known_anchor.tolist()))
    truth = rng.uniform(settings.response_low, settings.response_high, settings.responses)
    windows: list[list[JudgedWindow]] = [[] for _ in range(settings.responses)]
    used: list[set[int]] = [set() for _ in range(settings.responses)]
    anchors_per_window = settings.window_size - 1

    for round_index in range(settings.windows_per_response):
        scale = scale_estimate([w for ws in windows for w in ws]) if round_index else None
        for r in range(settings.responses):
            estimate = None
            if round_index and settings.adaptive:
                current = response_score(windows[r], scale)  # type: ignore[arg-type]
                estimate = current.intensity
                interval = (current.ci_low, current.ci_high)
            indices = panel.choose(
                anchors_per_window, rng, estimate=estimate, interval=interval if estimate is not None else None,
                avoid=used[r],
            )
            used[r].update(indices)
            layout = window_layout([int(panel.ids[i]) for i in indices], rng)
            shown_truth = np.asarray([truth[r] if a is None else true_of[a] for a in layout.shown])
            windows[r].append(judged_window(layout, known_of, judge.rank(shown_truth, rng)))

    scale = scale_estimate([w for ws in windows for w in ws])
    started = time.perf_counter()
    estimated = [response_score(ws, scale) for ws in windows]
    seconds = time.perf_counter() - started
    fixed = [response_score(ws, Scale.fixed(1.0)) for ws in windows]
    return SimulationOutcome(
        mae=_mae(estimated, truth),
        coverage=_coverage(estimated, truth),
        mae_fixed_scale=_mae(fixed, truth),
        coverage_fixed_scale=_coverage(fixed, truth),
        ms_per_response=1000 * seconds / settings.responses,
        scale=scale.logits_per_point,
        scale_se=scale.se,
        mean_ci_width=float(np.mean([e.ci_high - e.ci_low for e in estimated])),
        mean_ci_width_fixed_scale=float(np.mean([e.ci_high - e.ci_low for e in fixed])),
        beyond_anchors=float(np.mean([e.beat_all or e.lost_all for e in estimated])),
        judge_pairwise_agreement=judge.pairwise_agreement(seed=settings.seed),
        settings=settings,
    )


def noise_for_agreement(agreement: float, *, seed: int = 0) -> float:
    """The logistic noise scale at which the judge orders `agreement` of random text pairs like the truth."""
    if not 0.5 < agreement < 1.0:
        raise ValueError(f"agreement must lie in (0.5, 1), got {agreement!r}")
    low, high = 1e-3, 50.0
    for _ in range(40):
        middle = math.sqrt(low * high)
        if LogisticJudge(middle).pairwise_agreement(pairs=50_000, seed=seed) > agreement:
            low = middle
        else:
            high = middle
    return math.sqrt(low * high)


def _mae(estimates: list[ResponseEstimate], truth: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray([e.intensity for e in estimates]) - truth)))


def _coverage(estimates: list[ResponseEstimate], truth: np.ndarray) -> float:
    return float(np.mean([e.ci_low <= t <= e.ci_high for e, t in zip(estimates, truth, strict=True)]))
